"""Secrets never leave the server: no channel secret (plain or sealed), password hash, identity secret
or API key hash appears in an API answer or a console page, signed in or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.app import create_app
from server.tables import ApiKey, Bot, ChannelConfig, User
from tests.security.conftest import CHANNEL_SETTINGS, Deployment
from tests.security.helpers import auth_headers


@pytest.fixture(scope="module")
def client(deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    with TestClient(app) as test_client:
        yield test_client


def secrets_of(deployment: Deployment, client: TestClient) -> list[str]:
    """Every secret the deployment holds, in every stored form."""
    from server import widget

    services = deployment.services
    api_headers = auth_headers(client)  # creates an API key whose hash is then stored
    found = [v for values in CHANNEL_SETTINGS.values() for k, v in values.items() if "secret" in k or "token" in k]
    with Session(services.engine, expire_on_commit=False) as session:  # type: ignore[attr-defined]
        bot = session.exec(select(Bot).where(Bot.slug == "acme")).one()
        found.append(widget.set_identity_secret(session, services.secrets, bot))  # type: ignore[attr-defined]
        found += [u.password_hash for u in session.exec(select(User)).all()]
        found += [k.key_hash for k in session.exec(select(ApiKey)).all()]
        for row in session.exec(select(ChannelConfig)).all():
            found += [str(v) for v in row.config.values()]  # the sealed (Fernet) tokens
    found.append(api_headers["Authorization"].split()[1])
    return [s for s in found if len(s) >= 8]


def test_no_answer_or_page_contains_a_secret(client: TestClient, deployment: Deployment) -> None:
    secrets = secrets_of(deployment, client)
    conversation = client.post("/api/v1/bots/acme/messages", json={"text": "how many days to return items?"}).json()
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        public_key = session.exec(select(Bot).where(Bot.slug == "acme")).one().public_key
    api = auth_headers(client)
    bots = client.get("/api/v1/bots", headers=api).json()
    console = auth_headers(client, console=True)
    reads = [
        ("/api/v1/bots", api), (f"/api/v1/widget/{public_key}/config", {}),
        (f"/api/v1/conversations/{conversation['conversation_id']}/messages", {}),
        ("/api/v1/bots/acme/documents", api), ("/api/v1/privacy", api), ("/openapi.json", {}), ("/", {}),
        *[(p, console) for p in ("/admin/", "/admin/bots/acme/widget", "/admin/bots/acme/knowledge",
                                 "/admin/bots/acme/rules", "/admin/bots/acme/intents", "/admin/bots/acme/metrics",
                                 "/admin/users", "/admin/api-keys", "/admin/audit",
                                 f"/admin/conversations/{conversation['conversation_id']}")],
    ]
    assert bots and all(set(b) == {"slug", "name", "greeting"} for b in bots)
    assert [b["slug"] for b in bots] == ["acme"]  # the caller's tenant only
    for path, headers in reads:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code)
        leaked = [s[:12] + "…" for s in secrets if s in response.text]
        assert not leaked, (path, leaked)
    # The widget console page shows the identity secret only when it is (re)generated, never on a plain view.
    assert "ids_" not in client.get("/admin/bots/acme/widget", headers=console).text


def test_the_stored_channel_secrets_are_sealed(deployment: Deployment) -> None:
    plain = [v for values in CHANNEL_SETTINGS.values() for v in values.values() if len(v) >= 8]
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(select(ChannelConfig)).all()
    assert rows
    for row in rows:
        stored = str(row.config)
        assert not [v for v in plain if v in stored], row.kind

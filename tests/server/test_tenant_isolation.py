"""Tenants never see each other's data, and roles limit what a signed-in user may change.

The routes under test come from the app's route table: every route that needs a signed-in user
(admin.auth.current_user) is covered, so a new route without a value for its path parameters, a
request body that passes validation, or a role decision fails here until this file learns it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlmodel import Session

from admin import api_keys, invites
from admin.auth import current_user
from server.app import create_app
from server.channels.configs import add_channel
from server.ingest import ingest_paths
from server.settings import Settings
from server.tables import Conversation, Intent, IntentExample, Message, ReplyRule, User
from tests.conftest import console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSV = ("x.csv", b"text,intent\nwhere is my parcel,track\n", "text/csv")
MARKDOWN = ("n.md", b"# Note\n\nHello.", "text/markdown")
# Request bodies that pass validation, so the route's own checks answer (path templates as in the app).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/conversations/{conversation_id}/agent-messages"): {"json": {"text": "hello"}},
    ("POST", "/admin/bots/{slug}/intents/upload"): {"files": {"file": CSV}},
    ("POST", "/admin/bots/{slug}/knowledge"): {"files": [("files", MARKDOWN)]},
    ("POST", "/admin/bots/{slug}/knowledge/answers"): {"data": {"question": "q", "answer": "a"}},
    ("POST", "/api/v1/bots/{bot_slug}/documents"): {"files": [("files", MARKDOWN)]},
    ("PUT", "/api/v1/privacy"): {"json": {"retention_days": 30}},
    ("PUT", "/api/v1/bots/{bot}/hours"): {"json": {}},
    ("POST", "/admin/users/{user_id}/role"): {"data": {"role": "viewer"}},
    ("POST", "/admin/users/invite"): {"data": {"email": "someone@a.example", "role": "viewer"}},
    ("POST", "/admin/api-keys"): {"data": {"name": "k", "role": "viewer"}},
    ("POST", "/admin/bots/{slug}/rules/try"): {"data": {"text": "hello"}},
}
# Unsafe routes a viewer may call (they change nothing of the tenant's).
VIEWER_MAY = {("POST", "/admin/logout"), ("POST", "/admin/account/password"),
              ("POST", "/admin/bots/{slug}/rules/try"), ("POST", "/api/v1/agents/heartbeat")}
# Unsafe routes an agent may call; every other unsafe route is for owners and admins.
AGENT_MAY = VIEWER_MAY | {
    ("POST", "/admin/bots/{slug}/knowledge"), ("POST", "/admin/bots/{slug}/knowledge/answers"),
    ("POST", "/api/v1/bots/{bot_slug}/documents"),
    ("DELETE", "/api/v1/bots/{bot_slug}/documents/{doc_slug}"),
    ("POST", "/admin/bots/{slug}/rules"), ("POST", "/admin/bots/{slug}/rules/{rule_id}/toggle"),
    ("POST", "/admin/bots/{slug}/rules/{rule_id}/delete"),
    ("POST", "/admin/bots/{slug}/intents/examples"),
    ("POST", "/admin/bots/{slug}/intents/examples/{example_id}/delete"),
    ("POST", "/admin/bots/{slug}/intents/upload"), ("POST", "/admin/bots/{slug}/intents/train"),
    ("POST", "/admin/bots/{slug}/intents/versions/{version}/promote"), ("POST", "/admin/bots/{slug}/intents/rollback"),
    ("POST", "/admin/conversations/{conversation_id}/messages/{message_id}/label"),
    ("POST", "/api/v1/conversations/{conversation_id}/agent-messages"),
    ("POST", "/api/v1/conversations/{conversation_id}/release"),
    ("POST", "/api/v1/conversations/{conversation_id}/resolve"),
}
PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


def _needs_user(dependant: Any) -> bool:
    return any(d.call is current_user or _needs_user(d) for d in dependant.dependencies)


def signed_in_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route that needs a signed-in user."""
    app = create_app(Settings(_env_file=None, data_dir=Path("/nonexistent")))  # routes only: no lifespan runs
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and _needs_user(route.dependant):
            found |= {(method, context.path) for method in context.methods or ()}
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = signed_in_routes()
OBJECT_ROUTES = [r for r in ROUTES if PARAM.search(r[1])]


@dataclass
class Objects:
    """Tenant A's objects, by path parameter name."""

    values: dict[str, str]

    def url(self, path: str) -> str:
        """The path with tenant A's objects filled in; a parameter nobody taught this test fails it."""
        missing = [p for p in PARAM.findall(path) if p not in self.values]
        assert not missing, f"{path}: add a tenant-A value for {missing} to tenant_a_objects()"
        return PARAM.sub(lambda m: self.values[m.group(1)], path)


@pytest.fixture()
def objects(world, tmp_path: Path) -> Iterator[Objects]:  # type: ignore[no-untyped-def]
    """A document, a conversation with a customer message, a rule, an intent example, a key and an invite of A."""
    services = world.services
    (tmp_path / "hours.md").write_text("# Opening hours\n\nWe open at nine.", encoding="utf-8")
    assert all(r.ok for r in ingest_paths(services.runtimes, "shop", [tmp_path / "hours.md"]))
    with Session(services.engine, expire_on_commit=False) as session:
        bot_id = session.exec(_bot_id("shop")).one()
        conversation = Conversation(bot_id=bot_id, external_user_id="cust-a", status="queued")
        session.add(conversation)
        session.flush()
        message = Message(conversation_id=conversation.id, role="customer", text="where is my parcel?")
        rule = ReplyRule(bot_id=bot_id, name="r", definition={"when": {"keywords": ["x"]}, "then": [{"reply": "y"}]})
        intent = Intent(bot_id=bot_id, name="track")
        session.add_all([message, rule, intent])
        session.flush()
        example = IntentExample(intent_id=intent.id, text="track my parcel", source="console")
        session.add(example)
        session.commit()
        owner = session.get(User, world.users["owner"].id)
        _, key = api_keys.create(session, owner, "a key", "viewer")
        _, invite = invites.create(session, owner, "invited@a.example", "viewer")
    channel, _ = add_channel(services.engine, services.secrets, "shop", "telegram", "main",
                             {"bot_token": "1:A", "secret_token": "tenant-a-secret-token"})
    yield Objects({
        "channel_id": channel.id,
        "slug": "shop", "bot_slug": "shop", "bot": "shop", "doc_slug": "hours", "customer": "cust-a",
        "conversation_id": conversation.id, "message_id": message.id, "rule_id": rule.id, "example_id": example.id,
        "version": "1", "user_id": world.users["viewer"].id, "key_id": key.id, "invite_id": invite.id,
    })


def _bot_id(slug: str):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from server.tables import Bot

    return select(Bot.id).where(Bot.slug == slug)


def call(client, method: str, path: str, objects: Objects, auth) -> Any:  # type: ignore[no-untyped-def]
    body = BODIES.get((method, path), {"data": {"x": "1"}} if method in UNSAFE and path.startswith("/admin") else {})
    response = client.request(method, objects.url(path), auth=auth, follow_redirects=False, **body)
    assert response.status_code != 422, f"{method} {path}: add a request body that validates to BODIES"
    return response


def test_the_route_table_is_what_this_file_expects() -> None:
    assert len(OBJECT_ROUTES) >= 30 and ("GET", "/admin/bots/{slug}/rules") in OBJECT_ROUTES
    assert not {r for r in BODIES if r not in ROUTES} - {("PUT", "/api/v1/bots/{bot}/hours")}


@pytest.mark.parametrize("method,path", OBJECT_ROUTES, ids=[f"{m} {p}" for m, p in OBJECT_ROUTES])
def test_another_tenant_gets_404_for_every_object_route(app_client, world, objects, method: str, path: str) -> None:
    stranger = console_auth(world.services, "owner@b.example")
    response = call(app_client, method, path, objects, stranger)
    assert response.status_code == 404, (method, path, response.status_code, response.text[:300])
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and "cust-a" not in response.text and "hours.md" not in response.text
    if method == "GET":  # the same request by the tenant's own owner finds the object: the 404 is isolation
        own = call(app_client, method, path, objects, console_auth(world.services, "owner@a.example"))
        assert own.status_code == 200, (path, own.text[:300])


UNSAFE_ROUTES = [r for r in ROUTES if r[0] in UNSAFE]


@pytest.mark.parametrize("method,path", UNSAFE_ROUTES, ids=[f"{m} {p}" for m, p in UNSAFE_ROUTES])
def test_a_viewer_changes_nothing(app_client, world, objects, method: str, path: str) -> None:
    if (method, path) in VIEWER_MAY:
        pytest.skip("viewers may do this")
    response = call(app_client, method, path, objects, console_auth(world.services, "viewer@a.example"))
    assert response.status_code == 403, (method, path, response.status_code, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):  # pages show the refusal beside their form
        assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("method,path", UNSAFE_ROUTES, ids=[f"{m} {p}" for m, p in UNSAFE_ROUTES])
def test_an_agent_cannot_change_settings_users_or_keys(app_client, world, objects, method: str, path: str) -> None:
    if (method, path) in AGENT_MAY:
        pytest.skip("agents may do this")
    response = call(app_client, method, path, objects, console_auth(world.services, "agent@a.example"))
    assert response.status_code == 403, (method, path, response.status_code, response.text[:300])

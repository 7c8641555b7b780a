"""API keys: created on the console and shown once, stored hashed, scoped by role and tenant, revocable."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from admin import sessions
from server.tables import ApiKey, User
from tests.conftest import BearerAuth, api_key_auth, console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

DOCS = "/api/v1/bots/shop/documents"
FILES = [("files", ("a.md", b"# A\n\nSome text.", "text/markdown"))]


def create(client, auth, name: str, role: str):  # type: ignore[no-untyped-def]
    return client.post("/admin/api-keys", data={"name": name, "role": role}, auth=auth)


def test_a_key_is_shown_once_stored_hashed_and_works_until_revoked(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    page = create(app_client, owner, "CI <script>", "agent")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    raw = re.search(r'<pre class="api-key">(fd_[A-Za-z0-9_-]+)</pre>', page.text).group(1)  # type: ignore[union-attr]
    assert "CI &lt;script&gt;" in page.text and "<script>" not in page.text.split("<main>")[1]
    with Session(world.services.engine) as session:
        row = session.exec(select(ApiKey)).one()
    assert row.key_hash == sessions.token_hash(raw) and raw not in (row.prefix, row.key_hash)
    assert raw.startswith(row.prefix) and len(row.prefix) == 11 and len(raw) > 40
    assert raw not in app_client.get("/admin/api-keys", auth=owner).text  # listed by prefix only

    key = BearerAuth(raw)
    listed = app_client.get(DOCS, auth=key)
    assert listed.status_code == 200 and listed.json() == []
    with Session(world.services.engine) as session:
        assert session.get(ApiKey, row.id).last_used_at is not None
    assert app_client.post(DOCS, files=FILES, auth=key).status_code == 202  # no CSRF token for a bearer key

    revoked = app_client.post(f"/admin/api-keys/{row.id}/revoke", auth=owner, follow_redirects=False)
    assert revoked.status_code == 303
    gone = app_client.get(DOCS, auth=key)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_api_key"


def test_keys_do_not_open_the_console_and_bad_keys_are_401(app_client, world) -> None:
    key = api_key_auth(world.services, "owner@a.example", "admin")
    assert app_client.get("/admin/", auth=key, follow_redirects=False).status_code == 303
    assert app_client.post("/admin/bots/shop/rules", auth=key, data={"name": "x"}).status_code == 401
    for header in ("Bearer fd_not-a-key", "Bearer ", "Bearer sk_other"):
        response = app_client.get(DOCS, headers={"Authorization": header})
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_a_key_never_acts_above_its_creator(app_client, world) -> None:
    admin = console_auth(world.services, "admin@a.example")
    assert create(app_client, admin, "too high", "owner").status_code == 400
    assert create(app_client, admin, "fine", "admin").status_code == 200
    viewer_page = app_client.get("/admin/api-keys", auth=console_auth(world.services, "agent@a.example"))
    assert viewer_page.status_code == 403  # agents and viewers do not manage keys
    key = api_key_auth(world.services, "admin@a.example", "admin")
    assert app_client.put("/api/v1/privacy", json={"retention_days": 9}, auth=key).status_code == 200
    with Session(world.services.engine) as session:  # the creator is demoted: the key follows
        user = session.exec(select(User).where(User.email == "admin@a.example")).one()
        user.role = "viewer"
        session.add(user)
        session.commit()
    assert app_client.put("/api/v1/privacy", json={"retention_days": 9}, auth=key).status_code == 403
    assert app_client.post(DOCS, files=FILES, auth=key).status_code == 403
    assert app_client.get(DOCS, auth=key).status_code == 200


def test_a_viewer_key_reads_but_does_not_write(app_client, world) -> None:
    key = api_key_auth(world.services, "owner@a.example", "viewer")
    assert app_client.get(DOCS, auth=key).status_code == 200
    refused = app_client.post(DOCS, files=FILES, auth=key)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert app_client.delete(f"{DOCS}/a", auth=key).status_code == 403


def test_removing_the_creator_revokes_their_keys(app_client, world) -> None:
    key = api_key_auth(world.services, "admin@a.example", "agent")
    assert app_client.get(DOCS, auth=key).status_code == 200
    owner = console_auth(world.services, "owner@a.example")
    removed = app_client.post(f"/admin/users/{world.users['admin'].id}/remove", auth=owner, follow_redirects=False)
    assert removed.status_code == 303
    assert app_client.get(DOCS, auth=key).status_code == 401
    with Session(world.services.engine) as session:
        assert session.exec(select(ApiKey)).one().revoked_at is not None


def test_another_tenants_key_sees_nothing_and_cannot_revoke(app_client, world) -> None:
    key = api_key_auth(world.services, "owner@b.example", "admin")
    response = app_client.get(DOCS, auth=key)
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_bot"
    mine = api_key_auth(world.services, "owner@a.example", "admin")
    with Session(world.services.engine) as session:
        key_id = session.exec(select(ApiKey).where(ApiKey.tenant_id == world.tenant_a)).one().id
    b_owner = console_auth(world.services, "owner@b.example")
    assert app_client.post(f"/admin/api-keys/{key_id}/revoke", auth=b_owner).status_code == 404
    assert app_client.get(DOCS, auth=mine).status_code == 200

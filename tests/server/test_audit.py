"""The audit log: console and API changes are recorded with who, where and what; the page filters and pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlmodel import Session

from admin import audit
from server.tables import AuditEvent, utcnow
from tests.conftest import api_key_auth, console_auth, web_login
from tests.server import accounts_helpers
from tests.server.accounts_helpers import PASSWORD, events

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture


def test_changes_through_the_console_and_the_api_are_recorded(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    rule = {"name": "hours", "priority": "5", "enabled": "true",
            "definition": json.dumps({"when": {"keywords": ["hours"]}, "then": [{"reply": "9 to 5"}]})}
    assert app_client.post("/admin/bots/shop/rules", data=rule, auth=owner, follow_redirects=False).status_code == 303
    widget = {"color": "#336699", "position": "left", "allowed_origins": "https://shop.example"}
    saved_widget = app_client.post("/admin/bots/shop/widget", data=widget, auth=owner, follow_redirects=False)
    assert saved_widget.status_code == 303
    example = {"intent": "track", "text": "where is my parcel"}
    assert app_client.post("/admin/bots/shop/intents/examples", data=example, auth=owner,
                           follow_redirects=False).status_code == 303
    key = api_key_auth(world.services, "owner@a.example", "admin")
    assert app_client.put("/api/v1/privacy", json={"retention_days": 30}, auth=key).status_code == 200

    (saved,) = events(world.services, "rule.save")
    assert (saved.actor, saved.target, saved.details, saved.ip) == ("owner@a.example", "shop/hours", {"new": True},
                                                                    "testclient")
    assert saved.tenant_id == world.tenant_a and saved.user_id == world.users["owner"].id
    saved_widget = events(world.services, "widget.save")[0].details
    assert saved_widget == {"allowed_origins": ["https://shop.example"], "speak_replies": None}
    assert events(world.services, "intent.example_add")[0].target == "shop/track"
    (privacy,) = events(world.services, "privacy.settings")
    assert privacy.actor.startswith("api key fd_") and privacy.details["retention_days"] == 30


def test_account_events_are_recorded(app_client, world) -> None:
    owner = web_login(app_client, "owner@a.example", PASSWORD)
    app_client.post("/admin/users/invite", data={"email": "new@a.example", "role": "viewer"}, auth=owner)
    app_client.post(f"/admin/users/{world.users['agent'].id}/role", data={"role": "viewer"}, auth=owner)
    app_client.post(f"/admin/users/{world.users['viewer'].id}/remove", auth=owner)
    page = app_client.post("/admin/api-keys", data={"name": "ci", "role": "agent"}, auth=owner)
    key_prefix = re.search(r"(fd_[A-Za-z0-9_-]{8})", page.text).group(1)  # type: ignore[union-attr]
    key_id = re.search(r"/admin/api-keys/(key_[0-9a-f]+)/revoke", page.text).group(1)  # type: ignore[union-attr]
    app_client.post(f"/admin/api-keys/{key_id}/revoke", auth=owner)
    app_client.post("/admin/logout", auth=owner)
    expected = {"login.ok": "owner@a.example", "invite.create": "new@a.example", "user.role": "agent@a.example",
                "user.remove": "viewer@a.example", "api_key.create": key_prefix, "api_key.revoke": key_prefix,
                "logout": "owner@a.example"}
    for action, target in expected.items():
        (event,) = events(world.services, action)
        assert event.target == target and event.actor == "owner@a.example" and event.tenant_id == world.tenant_a
    assert events(world.services, "user.role")[0].details == {"from": "agent", "to": "viewer"}


def test_the_page_is_for_managers_filters_and_pages_newest_first(app_client, world) -> None:
    with Session(world.services.engine) as session:
        start = utcnow() - timedelta(hours=2)
        for i in range(120):
            user = world.users["admin"] if i % 2 else world.users["owner"]
            session.add(AuditEvent(tenant_id=world.tenant_a, user_id=user.id, actor=user.email,
                                   action="rule.save" if i % 3 else "rule.delete", target=f"shop/r{i}",
                                   at=start + timedelta(seconds=i)))
        session.add(AuditEvent(tenant_id=world.tenant_b, actor="owner@b.example", action="rule.save", target="secret"))
        session.commit()
    assert app_client.get("/admin/audit", auth=console_auth(world.services, "agent@a.example")).status_code == 403
    owner = console_auth(world.services, "owner@a.example")
    first = app_client.get("/admin/audit", auth=owner)
    assert first.status_code == 200 and "120 events · page 1 of 3" in first.text
    targets = re.findall(r"<td>shop/r(\d+)</td>", first.text)
    assert targets[:3] == ["119", "118", "117"] and len(targets) == audit.PAGE_SIZE
    assert "secret" not in first.text
    last = app_client.get("/admin/audit?page=3", auth=owner)
    assert re.findall(r"<td>shop/r(\d+)</td>", last.text)[-1] == "0"
    deletes = app_client.get("/admin/audit?action=rule.delete", auth=owner)
    assert "40 events" in deletes.text and "shop/r3<" in deletes.text and "shop/r1<" not in deletes.text
    by_admin = app_client.get(f"/admin/audit?user_id={world.users['admin'].id}", auth=owner)
    assert "60 events" in by_admin.text and "shop/r2<" not in by_admin.text
    with Session(world.services.engine) as session:
        found = audit.query(session, world.tenant_a, "rule.delete", world.users["owner"].id, page=99)
    assert found.page == found.pages == 1 and found.total == 20

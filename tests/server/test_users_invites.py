"""Users page: invites (single use, expiring, hashed), accepting one, role changes and removal rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from admin import sessions
from server.tables import ConsoleSession, Invite, User, utcnow
from tests.conftest import console_auth
from tests.server import accounts_helpers

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

NEW_PASSWORD = "a long enough password"


def invite(client, auth, email: str, role: str = "agent"):  # type: ignore[no-untyped-def]
    return client.post("/admin/users/invite", data={"email": email, "role": role}, auth=auth)


def link_of(page) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'<pre class="invite-link">http://testserver(/admin/invite/[^<]+)</pre>', page.text).group(1)


def accept(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    data = {"password": password, "confirm": confirm or password, "csrf_token": token.group(1) if token else ""}
    return client.post(path, data=data, follow_redirects=False)


def role_of(world, email: str) -> str | None:  # type: ignore[no-untyped-def]
    with Session(world.services.engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        return user.role if user else None


def test_an_invite_link_is_shown_once_works_once_and_signs_the_new_user_in(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    page = invite(app_client, owner, "New.Agent@a.example", "agent")
    assert page.status_code == 200 and "Frontdesk sends no e-mail" in page.text
    path = link_of(page)
    token = path.rsplit("/", 1)[1]
    with Session(world.services.engine) as session:
        row = session.exec(select(Invite)).one()
    assert row.token_hash == sessions.token_hash(token) and row.email == "new.agent@a.example"
    assert token not in app_client.get("/admin/users", auth=owner).text

    opened = app_client.get(path)
    assert opened.status_code == 200 and "new.agent@a.example" in opened.text
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert accept(app_client, path, "short", "short").status_code == 400
    assert accept(app_client, path, NEW_PASSWORD, NEW_PASSWORD + "x").status_code == 400
    done = accept(app_client, path)
    assert done.status_code == 303 and done.headers["location"] == "/admin/"
    assert "frontdesk_session" in done.cookies
    assert role_of(world, "new.agent@a.example") == "agent"
    app_client.cookies.clear()
    again = accept(app_client, path)
    assert again.status_code == 404 and "invalid, already used or expired" in again.text


def test_expired_and_revoked_invites_do_not_work(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    expired = link_of(invite(app_client, owner, "late@a.example"))
    revoked_page = invite(app_client, owner, "revoked@a.example")
    with Session(world.services.engine) as session:
        row = session.exec(select(Invite).where(Invite.email == "late@a.example")).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
        revoked_id = session.exec(select(Invite).where(Invite.email == "revoked@a.example")).one().id
    assert app_client.post(f"/admin/invites/{revoked_id}/revoke", auth=owner, follow_redirects=False).status_code == 303
    for path in (expired, link_of(revoked_page), "/admin/invite/made-up-token"):
        assert accept(app_client, path).status_code == 404
    assert role_of(world, "late@a.example") is None and role_of(world, "revoked@a.example") is None


@pytest.mark.parametrize("who,role,status", [
    ("admin", "admin", 403), ("admin", "owner", 403), ("admin", "viewer", 200), ("agent", "viewer", 403),
    ("viewer", "viewer", 403), ("owner", "admin", 200), ("owner", "wizard", 400),
])
def test_who_may_invite_whom(app_client, world, who: str, role: str, status: int) -> None:
    response = invite(app_client, console_auth(world.services, f"{who}@a.example"), f"x-{who}-{role}@a.example", role)
    assert response.status_code == status


def test_inviting_an_existing_account_or_a_bad_address_is_refused(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    assert invite(app_client, owner, "owner@b.example").status_code == 409
    assert invite(app_client, owner, "not an address").status_code == 400


@pytest.mark.parametrize("who,target,role,status", [
    ("owner", "agent", "viewer", 303), ("admin", "agent", "viewer", 303), ("admin", "viewer", "admin", 403),
    ("admin", "owner", "viewer", 403), ("owner", "agent", "admin", 303), ("agent", "viewer", "agent", 403),
    ("owner", "owner", "admin", 409), ("owner", "agent", "emperor", 400),
])
def test_role_changes_follow_the_rules(app_client, world, who: str, target: str, role: str, status: int) -> None:
    auth = console_auth(world.services, f"{who}@a.example")
    response = app_client.post(f"/admin/users/{world.users[target].id}/role", data={"role": role}, auth=auth,
                               follow_redirects=False)
    assert response.status_code == status
    assert role_of(world, f"{target}@a.example") == (role if status == 303 else target)


def test_the_last_owner_can_be_demoted_once_there_is_another(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    url = f"/admin/users/{world.users['admin'].id}/role"
    assert app_client.post(url, data={"role": "owner"}, auth=owner, follow_redirects=False).status_code == 303
    demote = f"/admin/users/{world.users['owner'].id}/role"
    assert app_client.post(demote, data={"role": "admin"}, auth=owner, follow_redirects=False).status_code == 303
    assert role_of(world, "owner@a.example") == "admin"


def test_removal_rules_and_removal_ends_the_users_sessions(app_client, world) -> None:
    admin = console_auth(world.services, "admin@a.example")
    owner = console_auth(world.services, "owner@a.example")
    agent = console_auth(world.services, "agent@a.example")
    remove = "/admin/users/{}/remove".format
    assert app_client.post(remove(world.users["owner"].id), auth=admin).status_code == 403
    assert app_client.post(remove(world.users["owner"].id), auth=owner).status_code == 409  # the last owner
    assert app_client.post(remove(world.users["viewer"].id), auth=agent).status_code == 403
    assert app_client.get("/admin/", auth=agent).status_code == 200
    gone = app_client.post(remove(world.users["agent"].id), auth=admin, follow_redirects=False)
    assert gone.status_code == 303 and role_of(world, "agent@a.example") is None
    assert app_client.get("/admin/", auth=agent, follow_redirects=False).status_code == 303
    with Session(world.services.engine) as session:
        left = session.exec(select(ConsoleSession).where(ConsoleSession.user_id == world.users["agent"].id)).all()
    assert left == []


def test_another_tenants_users_do_not_exist(app_client, world) -> None:
    b_owner = console_auth(world.services, "owner@b.example")
    target = world.users["agent"].id
    assert app_client.post(f"/admin/users/{target}/role", data={"role": "viewer"}, auth=b_owner).status_code == 404
    assert app_client.post(f"/admin/users/{target}/remove", auth=b_owner).status_code == 404
    page = app_client.get("/admin/users", auth=b_owner)
    assert "owner@b.example" in page.text and "@a.example" not in page.text

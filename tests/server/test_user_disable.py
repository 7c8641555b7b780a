"""Disabled users: no sign-in (at the cost of any other failed one), the users page's disable/enable, CLI actors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select

from admin import api_keys, auth, operator_accounts, sessions
from server.errors import Conflict
from server.tables import ApiKey, AuditEvent, ConsoleSession, User
from tests.conftest import SessionAuth, api_key_auth, console_auth, web_login
from tests.server import accounts_helpers, test_cli_users
from tests.server.accounts_helpers import PASSWORD, events
from tests.server.test_cli_users import users as cli_users

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture
cli_data = test_cli_users.data  # fixture: a fresh data folder with the tenant Acme, as `frontdesk` sees it


class VerifySpy:
    """Stands in for admin.auth.hasher: records which hash every verify() ran argon2 on, and how it ended."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, []  # type: ignore[var-annotated]

    def verify(self, stored: str, password: str) -> bool:
        try:
            result = self.real.verify(stored, password)
        except Exception as exc:
            self.calls.append((stored, type(exc).__name__))
            raise
        self.calls.append((stored, "ok"))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture()
def spy(monkeypatch: pytest.MonkeyPatch) -> VerifySpy:
    found = VerifySpy(auth.hasher)
    monkeypatch.setattr(auth, "hasher", found)
    return found


def user_row(world, email: str) -> User:  # type: ignore[no-untyped-def]
    with Session(world.services.engine) as session:
        return session.exec(select(User).where(User.email == email)).one()


def disable_in_db(world, email: str) -> None:  # type: ignore[no-untyped-def]
    with Session(world.services.engine) as session:
        operator_accounts.disable_user(session, email)


def post_login(client, email: str, password: str):  # type: ignore[no-untyped-def]
    """The real sign-in form: GET it for its token, POST it (no redirect followed)."""
    page = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    data = {"email": email, "password": password, "csrf_token": token}
    return client.post("/admin/login", data=data, follow_redirects=False)


# --- 1. a disabled user's failed sign-in costs what any other costs ---


def test_a_disabled_user_is_checked_against_the_dummy_hash(world, spy: VerifySpy) -> None:
    disable_in_db(world, "agent@a.example")
    agent = user_row(world, "agent@a.example")
    assert agent.password_hash.startswith("!$argon2")
    assert auth.verify_password(agent, PASSWORD) is False  # the right password, but disabled
    assert auth.verify_password(agent, "not the password") is False
    assert auth.verify_password(None, PASSWORD) is False
    # argon2 ran in full (no InvalidHashError fast path) on the same dummy hash an unknown e-mail gets
    assert spy.calls[0] == (auth._DUMMY_HASH, "VerifyMismatchError")
    assert spy.calls == [(auth._DUMMY_HASH, "VerifyMismatchError")] * 3
    spy.calls.clear()
    assert auth.verify_password(user_row(world, "viewer@a.example"), PASSWORD) is True
    assert spy.calls == [(user_row(world, "viewer@a.example").password_hash, "ok")]


def test_a_disabled_user_never_signs_in_through_the_real_form(app_client, world, spy: VerifySpy) -> None:
    wrong = post_login(app_client, "viewer@a.example", "not the password")
    disable_in_db(world, "agent@a.example")
    spy.calls.clear()
    refused = post_login(app_client, "agent@a.example", PASSWORD)
    assert refused.status_code == 401 and "frontdesk_session" not in refused.cookies
    assert "Wrong e-mail or password." in refused.text
    assert spy.calls == [(auth._DUMMY_HASH, "VerifyMismatchError")]
    # the same answer as a wrong password: the page does not tell a disabled account from a bad guess
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", refused.text.replace("agent@", "viewer@")) == strip.sub("", wrong.text)
    failed = [e for e in events(world.services, "login.failed") if e.target == "agent@a.example"]
    assert len(failed) == 1 and failed[0].user_id == world.users["agent"].id
    assert not events(world.services, "login.ok")


def test_a_session_of_a_disabled_user_is_refused(app_client, world) -> None:
    """Disabling ends sessions; one opened by a sign-in racing the disable is refused all the same."""
    disable_in_db(world, "agent@a.example")
    late = console_auth(world.services, "agent@a.example")
    assert app_client.get("/admin/users", auth=late, follow_redirects=False).status_code in (302, 303, 401)


# --- 2. the users page ---


def test_owner_disables_and_enables_an_agent_from_the_users_page(app_client, world) -> None:
    owner = web_login(app_client, "owner@a.example", PASSWORD)
    agent = console_auth(world.services, "agent@a.example")
    key = api_key_auth(world.services, "agent@a.example", "agent")
    assert app_client.get("/api/v1/bots", auth=key).status_code == 200
    agent_id = world.users["agent"].id

    page = app_client.get("/admin/users", auth=owner)
    row = re.search(r'<tr data-user="agent@a.example" data-status="(\w+)"[^>]*>(.*?)</tr>', page.text, re.S)
    assert row and row.group(1) == "active" and f"/admin/users/{agent_id}/disable" in row.group(2)
    assert "badge disabled" not in page.text
    me = re.search(r'<tr data-user="owner@a.example"[^>]*>(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "/disable" not in me  # no button to lock oneself out

    done = app_client.post(f"/admin/users/{agent_id}/disable", auth=owner, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin/users?notice=disabled"
    page = app_client.get("/admin/users?notice=disabled", auth=owner)
    assert "User disabled; their sessions ended" in page.text
    row = re.search(r'<tr data-user="agent@a.example" data-status="(\w+)"[^>]*>(.*?)</tr>', page.text, re.S)
    assert row and row.group(1) == "disabled" and '<span class="badge disabled"' in row.group(2)
    assert f"/admin/users/{agent_id}/enable" in row.group(2) and "/disable" not in row.group(2)
    assert user_row(world, "agent@a.example").role == "agent"  # role kept
    assert app_client.get("/admin/users", auth=agent, follow_redirects=False).status_code != 200
    assert app_client.get("/api/v1/bots", auth=key).status_code == 401
    with Session(world.services.engine) as session:
        assert not session.exec(select(ConsoleSession).where(ConsoleSession.user_id == agent_id)).all()
        assert session.exec(select(ApiKey).where(ApiKey.created_by == agent_id)).one().revoked_at is not None
    assert post_login(app_client, "agent@a.example", PASSWORD).status_code == 401
    again = app_client.post(f"/admin/users/{agent_id}/disable", auth=owner, follow_redirects=False)
    assert again.headers["location"] == "/admin/users?notice=already_disabled"

    enabled = app_client.post(f"/admin/users/{agent_id}/enable", auth=owner, follow_redirects=False)
    assert enabled.status_code == 303 and enabled.headers["location"] == "/admin/users?notice=enabled"
    web_login(app_client, "agent@a.example", PASSWORD)  # their last password works again
    with Session(world.services.engine) as session:
        assert api_keys.authenticate(session, key.key) is None  # revoked keys stay revoked

    (off,) = events(world.services, "user.disable")
    assert (off.actor, off.user_id, off.target, off.tenant_id, off.ip) == (
        "owner@a.example", world.users["owner"].id, "agent@a.example", world.tenant_a, "testclient"
    )
    assert off.details == {"sessions_ended": 1, "keys_revoked": 1}
    (on,) = events(world.services, "user.enable")
    assert (on.actor, on.target, on.details) == ("owner@a.example", "agent@a.example", {})


@pytest.mark.parametrize(
    ("actor", "target", "status", "says"),
    [
        ("admin", "owner", 403, "only owners can disable owners and admins"),
        ("admin", "admin", 403, "only owners can disable owners and admins"),
        ("agent", "viewer", 403, "only owners and admins can disable users"),
        ("viewer", "agent", 403, "only owners and admins can disable users"),
        ("owner", "owner", 409, "you cannot disable your own account"),
    ],
)
def test_who_may_disable_whom(app_client, world, actor: str, target: str, status: int, says: str) -> None:
    auth_ = console_auth(world.services, f"{actor}@a.example")
    refused = app_client.post(f"/admin/users/{world.users[target].id}/disable", auth=auth_)
    assert refused.status_code == status and says in refused.text
    assert not user_row(world, f"{target}@a.example").password_hash.startswith("!")
    assert not events(world.services, "user.disable")


def test_an_admin_disables_a_viewer_and_nobody_reaches_another_tenant(app_client, world) -> None:
    admin = console_auth(world.services, "admin@a.example")
    viewer_id = world.users["viewer"].id
    assert app_client.post(f"/admin/users/{viewer_id}/disable", auth=admin, follow_redirects=False).status_code == 303
    assert events(world.services, "user.disable")[0].actor == "admin@a.example"
    other = console_auth(world.services, "owner@b.example")
    for action in ("disable", "enable"):
        assert app_client.post(f"/admin/users/{viewer_id}/{action}", auth=other).status_code == 404
        assert app_client.post(f"/admin/users/{world.users['agent'].id}/{action}", auth=other).status_code == 404
    assert user_row(world, "viewer@a.example").password_hash.startswith("!")
    assert not user_row(world, "agent@a.example").password_hash.startswith("!")


def test_disable_and_enable_need_the_csrf_token(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    no_token = SessionAuth(owner.cookie, "")
    agent_id = world.users["agent"].id
    refused = app_client.post(f"/admin/users/{agent_id}/disable", auth=no_token)
    assert refused.status_code == 403 and not user_row(world, "agent@a.example").password_hash.startswith("!")
    disable_in_db(world, "agent@a.example")
    assert app_client.post(f"/admin/users/{agent_id}/enable", auth=no_token).status_code == 403
    assert user_row(world, "agent@a.example").password_hash.startswith("!")


def test_a_disabled_owner_does_not_count_as_the_owner_who_keeps_the_tenant(app_client, world) -> None:
    owner = console_auth(world.services, "owner@a.example")
    admin_id = world.users["admin"].id
    assert app_client.post(f"/admin/users/{admin_id}/role", data={"role": "owner"}, auth=owner,
                           follow_redirects=False).status_code == 303
    assert app_client.post(f"/admin/users/{admin_id}/disable", auth=owner, follow_redirects=False).status_code == 303
    # two owners on paper, one who can sign in: she can neither step down nor leave
    demote = app_client.post(f"/admin/users/{world.users['owner'].id}/role", data={"role": "admin"}, auth=owner)
    assert demote.status_code == 409 and "last owner cannot be demoted" in demote.text
    leave = app_client.post(f"/admin/users/{world.users['owner'].id}/remove", auth=owner)
    assert leave.status_code == 409 and "last owner cannot be removed" in leave.text
    with Session(world.services.engine) as session, pytest.raises(Conflict, match="last owner who can sign in"):
        operator_accounts.disable_user(session, "owner@a.example")  # the shell refuses too
    # the disabled owner can still be demoted or removed: that leaves the enabled one in charge
    assert app_client.post(f"/admin/users/{admin_id}/role", data={"role": "agent"}, auth=owner,
                           follow_redirects=False).status_code == 303
    assert user_row(world, "owner@a.example").role == "owner"


# --- 3. the shell's actor ---


def test_command_line_changes_name_the_os_user(app_client, world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operator_accounts.getpass, "getuser", lambda: "alice")
    with Session(world.services.engine) as session:
        tenant = operator_accounts.find_tenant(session, world.tenant_a)
        operator_accounts.create_user(session, tenant, "new@a.example", "viewer", PASSWORD)
        operator_accounts.reset_password(session, "new@a.example", PASSWORD + "!")
        operator_accounts.disable_user(session, "new@a.example")
        operator_accounts.enable_user(session, "new@a.example")
    for action in ("user.create", "user.password_reset", "user.disable", "user.enable"):
        (event,) = events(world.services, action)
        assert (event.actor, event.user_id, event.tenant_id) == ("cli:alice", None, world.tenant_a), action
        assert event.details["via"] == "command line"
    owner = console_auth(world.services, "owner@a.example")
    page = app_client.get("/admin/audit?action=user.disable", auth=owner)
    assert "<td>cli:alice</td>" in page.text


def test_the_actor_falls_back_to_cli_when_the_os_cannot_name_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    def nobody() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(operator_accounts.getpass, "getuser", nobody)
    assert operator_accounts.cli_actor() == "cli"
    monkeypatch.setattr(operator_accounts.getpass, "getuser", lambda: "bob")
    assert operator_accounts.cli_actor() == "cli:bob"


def test_sessions_end_all_still_counts_after_disable(world) -> None:
    """Disabling through the shared function ends every session and reports how many (both callers show it)."""
    with Session(world.services.engine, expire_on_commit=False) as session:
        viewer = session.exec(select(User).where(User.email == "viewer@a.example")).one()
        sessions.start(session, viewer, None, "one")
        sessions.start(session, viewer, None, "two")
        done = operator_accounts.disable_user(session, "viewer@a.example", by=world.users["owner"])
    assert (done.already, done.sessions_ended, done.keys_revoked) == (False, 2, 0)
    (event,) = events(world.services, "user.disable")
    assert event.actor == "owner@a.example" and "via" not in event.details


def test_the_users_command_records_the_os_user(cli_data, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through `frontdesk users ...` itself (typer), not only the functions it calls."""
    monkeypatch.setattr(operator_accounts.getpass, "getuser", lambda: "carol")
    for args in (("create", "owner@example.com", "--tenant", "Acme", "--role", "owner"),
                 ("create", "ana@example.com", "--tenant", "Acme"), ("disable", "ana@example.com"),
                 ("enable", "ana@example.com"), ("reset-password", "ana@example.com")):
        assert cli_users(*args, password=PASSWORD).exit_code == 0, args
    with Session(cli_data.engine) as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.at)).all()
    assert [(e.action, e.actor) for e in rows] == [
        ("user.create", "cli:carol"), ("user.create", "cli:carol"), ("user.disable", "cli:carol"),
        ("user.enable", "cli:carol"), ("user.password_reset", "cli:carol"),
    ]

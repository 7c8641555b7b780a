"""`frontdesk users ...`: console accounts from the shell, on a real SQLite database in a temporary data folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from admin import api_keys, sessions
from admin.auth import verify_password
from server.cli import app
from server.context import Services
from server.settings import Settings
from server.tables import ApiKey, AuditEvent, ConsoleSession, Tenant, User

GOOD = "correct horse battery"
runner = CliRunner()


@pytest.fixture()
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A fresh data folder with one tenant, 'Acme'; yields services on the same database the CLI uses."""
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("FRONTDESK_PASSWORD", raising=False)
    svc = Services.open(Settings())
    with Session(svc.engine) as session:
        session.add(Tenant(name="Acme"))
        session.commit()
    try:
        yield svc
    finally:
        svc.close()


def users(*args: str, stdin: str | None = None, password: str | None = None):  # type: ignore[no-untyped-def]
    """Run `frontdesk users ARGS`; password goes in $FRONTDESK_PASSWORD, stdin on standard input."""
    env = {"FRONTDESK_PASSWORD": password} if password is not None else None
    return runner.invoke(app, ["users", *args], input=stdin, env=env)


def user(svc: Services, email: str) -> User:
    with Session(svc.engine) as session:
        found = session.exec(select(User).where(User.email == email)).first()
        assert found is not None
        return found


def one_line_error(result, text: str) -> None:  # type: ignore[no-untyped-def]
    """The command failed with exit status 1 and a single line on stderr that says text."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0, result.stderr
    assert text in result.stderr, result.stderr


def test_create_from_env_then_list_and_sign_in(data: Services) -> None:
    result = users("create", "Ana@Example.com", "--tenant", "Acme", "--role", "admin", password=GOOD)
    assert result.exit_code == 0, result.stderr
    assert "created admin ana@example.com in tenant Acme" in result.stdout
    assert GOOD not in result.stdout + result.stderr
    ana = user(data, "ana@example.com")
    assert ana.role == "admin" and ana.password_hash.startswith("$argon2")
    assert verify_password(ana, GOOD) and not verify_password(ana, GOOD + "x")

    listed = json.loads(users("list", "--json").stdout)
    assert [(r["email"], r["role"], r["tenant"], r["disabled"]) for r in listed] == [
        ("ana@example.com", "admin", "Acme", False)
    ]
    assert users("list").stdout.split("\t")[:4] == ["ana@example.com", "admin", "Acme", "active"]
    with Session(data.engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "user.create")).one()
    assert event.target == "ana@example.com" and event.details["via"] == "command line"


def test_create_reads_the_password_from_stdin(data: Services) -> None:
    result = users("create", "bo@example.com", "--tenant", "Acme", "--password-stdin", stdin=GOOD + "\n")
    assert result.exit_code == 0, result.stderr
    assert verify_password(user(data, "bo@example.com"), GOOD)
    assert user(data, "bo@example.com").role == "agent"  # the default role


def test_create_in_a_new_tenant_only_when_asked(data: Services) -> None:
    one_line_error(users("create", "cy@example.com", "--tenant", "Globex", password=GOOD), "no tenant 'Globex'")
    created = users(
        "create", "cy@example.com", "--tenant", "Globex", "--create-tenant", "--role", "owner", password=GOOD
    )
    assert created.exit_code == 0, created.stderr
    with Session(data.engine) as session:
        globex = session.exec(select(Tenant).where(Tenant.name == "Globex")).one()
    assert user(data, "cy@example.com").tenant_id == globex.id
    by_id = users("create", "di@example.com", "--tenant", globex.id, password=GOOD)
    assert by_id.exit_code == 0 and user(data, "di@example.com").tenant_id == globex.id
    only_globex = json.loads(users("list", "--tenant", "Globex", "--json").stdout)
    assert [r["email"] for r in only_globex] == ["cy@example.com", "di@example.com"]


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (("nobody", "--tenant", "Acme"), GOOD, "not an e-mail address"),
        (("ed@example.com", "--tenant", "Acme", "--role", "boss"), GOOD, "a role is one of owner, admin"),
        (("ed@example.com", "--tenant", "Acme"), "short", "at least 10 characters"),
        (("ed@example.com", "--tenant", "Acme"), None, "no password: set FRONTDESK_PASSWORD"),
    ],
)
def test_create_refuses_bad_input(data: Services, args: tuple[str, ...], password: str | None, reason: str) -> None:
    one_line_error(users("create", *args, password=password), reason)
    with Session(data.engine) as session:
        assert session.exec(select(User)).all() == []


def test_create_refuses_a_taken_email_and_an_empty_stdin(data: Services) -> None:
    assert users("create", "ana@example.com", "--tenant", "Acme", password=GOOD).exit_code == 0
    one_line_error(users("create", "ANA@example.com", "--tenant", "Acme", password=GOOD), "already has")
    one_line_error(
        users("create", "fi@example.com", "--tenant", "Acme", "--password-stdin", stdin=""),
        "standard input had no password",
    )


def test_reset_password_ends_every_session(data: Services) -> None:
    assert users("create", "ana@example.com", "--tenant", "Acme", password=GOOD).exit_code == 0
    with Session(data.engine) as session:
        ana = session.exec(select(User).where(User.email == "ana@example.com")).one()
        sessions.start(session, ana, "127.0.0.1", "browser one")
        sessions.start(session, ana, "127.0.0.1", "browser two")
    new = "a brand new passphrase"
    result = users("reset-password", "ana@example.com", "--password-stdin", stdin=new + "\n")
    assert result.exit_code == 0, result.stderr
    assert "2 session(s) ended" in result.stdout
    ana = user(data, "ana@example.com")
    assert verify_password(ana, new) and not verify_password(ana, GOOD)
    with Session(data.engine) as session:
        assert session.exec(select(ConsoleSession)).all() == []
    one_line_error(users("reset-password", "ana@example.com", password="short"), "at least 10 characters")
    one_line_error(users("reset-password", "zed@example.com", password=GOOD), "no user 'zed@example.com'")
    assert verify_password(user(data, "ana@example.com"), new)


def test_disable_locks_out_ends_sessions_and_revokes_keys_and_enable_undoes_it(data: Services) -> None:
    for email, role in (("owner@example.com", "owner"), ("ana@example.com", "admin")):
        assert users("create", email, "--tenant", "Acme", "--role", role, password=GOOD).exit_code == 0
    with Session(data.engine) as session:
        ana = session.exec(select(User).where(User.email == "ana@example.com")).one()
        sessions.start(session, ana, None, "browser")
        raw_key, _ = api_keys.create(session, ana, "deploy", "admin")
        assert api_keys.authenticate(session, raw_key) is not None

    result = users("disable", "ana@example.com")
    assert result.exit_code == 0, result.stderr
    assert "1 session(s) ended, 1 API key(s) revoked" in result.stdout
    assert not verify_password(user(data, "ana@example.com"), GOOD)
    with Session(data.engine) as session:
        assert session.exec(select(ConsoleSession)).all() == []
        assert api_keys.authenticate(session, raw_key) is None
        assert session.exec(select(ApiKey)).one().revoked_at is not None
    listed = {r["email"]: r["disabled"] for r in json.loads(users("list", "--json").stdout)}
    assert listed == {"ana@example.com": True, "owner@example.com": False}
    assert "already disabled" in users("disable", "ana@example.com").stdout

    # a password reset keeps the user disabled; enable lets them in with it
    new = "another fine passphrase"
    assert users("reset-password", "ana@example.com", password=new).exit_code == 0
    assert not verify_password(user(data, "ana@example.com"), new)
    assert users("enable", "ana@example.com").exit_code == 0
    assert verify_password(user(data, "ana@example.com"), new)


def test_disable_refuses_the_last_owner_and_unknown_users(data: Services) -> None:
    assert users("create", "owner@example.com", "--tenant", "Acme", "--role", "owner", password=GOOD).exit_code == 0
    one_line_error(users("disable", "owner@example.com"), "last owner who can sign in")
    assert verify_password(user(data, "owner@example.com"), GOOD)
    one_line_error(users("disable", "zed@example.com"), "no user 'zed@example.com'")
    one_line_error(users("list", "--tenant", "Nope"), "no tenant 'Nope'; known tenants: Acme")


def test_no_command_takes_a_password_argument() -> None:
    for command in ("create", "reset-password"):
        help_text = runner.invoke(app, ["users", command, "--help"]).stdout
        assert "--password-stdin" in help_text
        assert "--password " not in help_text and "--password\n" not in help_text

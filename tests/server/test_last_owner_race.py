"""Two owners demoting, disabling or removing each other at the same moment leave one owner who can sign in.

Real concurrent requests (two clients in two threads, released together by a barrier) on SQLite and
on the local PostgreSQL server. The owner count is made slow so that, without the tenant's owner
lock (admin/operator_accounts.py lock_owners), both requests would pass the check before either
writes; with it, the second request waits and sees the first one's change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session, select

from admin import operator_accounts, users
from admin.auth import is_disabled
from server.app import create_app
from server.errors import Conflict
from tests.conftest import ConsoleTestClient, SessionAuth, console_auth
from tests.server.accounts_helpers import add_user, make_world

SLOW_COUNT_S = 0.4  # the window between the check and the write, made wide enough to be hit every time


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Services with bot 'shop' and users of every role, on each database Frontdesk supports."""
    if request.param == "sqlite":
        yield request.getfixturevalue("shop_services")
        return
    from server.context import Services
    from server.seed import create_bot
    from server.tables import Tenant
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data").model_copy(
        update={"database_url": request.getfixturevalue("postgres_url")}
    )
    opened = Services.open(settings)
    with Session(opened.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture()
def slow_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count owners as before, then dawdle: a request that counted without the lock would now be overtaken."""
    real = operator_accounts.enabled_owners

    def slow(session: Session, tenant_id: str) -> int:
        n = real(session, tenant_id)
        time.sleep(SLOW_COUNT_S)
        return n

    monkeypatch.setattr(operator_accounts, "enabled_owners", slow)
    monkeypatch.setattr(users, "enabled_owners", slow)


def owners_who_can_sign_in(services, tenant_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    from server.tables import User

    with Session(services.engine) as session:
        rows = session.exec(select(User).where(User.tenant_id == tenant_id, User.role == "owner")).all()
        return sorted(u.email for u in rows if not is_disabled(u))


def at_once(services, calls: list[tuple[SessionAuth, str, dict[str, str]]]) -> list[int]:  # type: ignore[no-untyped-def]
    """POST each (auth, path, form) from its own client and thread, all released together; the statuses."""
    barrier = threading.Barrier(len(calls))
    apps = [create_app(services.settings, services) for _ in calls]

    def post(app: Any, auth: SessionAuth, path: str, form: dict[str, str]) -> int:
        with ConsoleTestClient(app) as client:
            client.get("/health")  # the app is up before the race starts
            barrier.wait(timeout=30)
            return client.post(path, data=form, auth=auth, follow_redirects=False).status_code

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(post, app, *call) for app, call in zip(apps, calls, strict=True)]
        return [f.result(timeout=120) for f in futures]


def demote(target_id: str) -> tuple[str, dict[str, str]]:
    return f"/admin/users/{target_id}/role", {"role": "admin"}


def disable(target_id: str) -> tuple[str, dict[str, str]]:
    return f"/admin/users/{target_id}/disable", {}


def remove(target_id: str) -> tuple[str, dict[str, str]]:
    return f"/admin/users/{target_id}/remove", {}


Action = Callable[[str], tuple[str, dict[str, str]]]
ONE, TWO = "one", "two"


@pytest.mark.parametrize(
    ("first", "second", "refusals"),
    [  # whichever goes first wins; the later one finds itself no owner (403), disabled (403) or gone (404)
        ((ONE, demote, TWO), (TWO, demote, ONE), {403}),
        ((ONE, disable, TWO), (TWO, disable, ONE), {403}),
        ((ONE, remove, TWO), (TWO, demote, ONE), {403, 404}),
        ((ONE, disable, TWO), (TWO, remove, ONE), {403, 404}),
        ((ONE, demote, ONE), (TWO, demote, TWO), {409}),  # each steps down: the later one is the last owner
        ((ONE, remove, ONE), (TWO, remove, TWO), {409}),
        ((ONE, demote, ONE), (TWO, remove, TWO), {409}),
    ],
    ids=[
        "demote-each-other",
        "disable-each-other",
        "remove-demote",
        "disable-remove",
        "both-step-down",
        "both-leave",
        "one-steps-down-one-leaves",
    ],
)
def test_two_owners_changing_the_owners_at_once_leave_one_who_can_sign_in(
    services, slow_count: None, first: tuple[str, Action, str], second: tuple[str, Action, str], refusals: set[int]
) -> None:  # type: ignore[no-untyped-def]
    world = make_world(services)
    people = {ONE: world.users["owner"], TWO: add_user(services, world.tenant_a, "second-owner@a.example", "owner")}
    calls = [
        (console_auth(services, people[actor].email), *action(people[target].id))
        for actor, action, target in (first, second)
    ]
    statuses = at_once(services, calls)
    done, refused = sorted(statuses)  # one change went through, the other was refused
    assert done == 303 and refused in refusals, statuses
    assert len(owners_who_can_sign_in(services, world.tenant_a)) == 1


def test_two_operators_disabling_the_two_owners_at_once_from_the_shell(services, slow_count: None) -> None:  # type: ignore[no-untyped-def]
    world = make_world(services)
    two = add_user(services, world.tenant_a, "second-owner@a.example", "owner")
    barrier = threading.Barrier(2)

    def disable_one(email: str) -> str:
        with Session(services.engine) as session:
            barrier.wait(timeout=30)
            try:
                operator_accounts.disable_user(session, email)
            except Conflict:
                return "refused"
            return "disabled"

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(disable_one, [world.users["owner"].email, two.email]))
    assert sorted(results) == ["disabled", "refused"]
    assert len(owners_who_can_sign_in(services, world.tenant_a)) == 1


def test_a_demoted_owner_cannot_finish_an_owner_only_change_started_before(services, slow_count: None) -> None:  # type: ignore[no-untyped-def]
    """The actor is re-read under the lock: an owner demoted meanwhile no longer acts as one."""
    world = make_world(services)
    one = world.users["owner"]
    two = add_user(services, world.tenant_a, "second-owner@a.example", "owner")
    three = add_user(services, world.tenant_a, "third-owner@a.example", "owner")
    statuses = at_once(
        services,
        [
            (console_auth(services, one.email), *demote(two.id)),  # first in: two becomes an admin
            (console_auth(services, two.email), *demote(three.id)),  # only an owner may demote an owner
        ],
    )
    assert sorted(statuses) in ([303, 403], [303, 303]), statuses
    remaining = owners_who_can_sign_in(services, world.tenant_a)
    assert one.email in remaining and len(remaining) >= 1
    if statuses.count(303) == 2:  # two went first: both changes were allowed when made
        assert remaining == [one.email]
    else:
        assert remaining == sorted([one.email, three.email])

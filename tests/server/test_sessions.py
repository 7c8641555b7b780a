"""Console sessions: sign-in form, cookie flags, fixation, expiry, sign-out, throttling and redirects."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from admin import sessions
from admin.login import safe_next
from admin.throttle import MAX_PER_ACCOUNT, LoginThrottle
from server.app import create_app
from server.tables import ConsoleSession, utcnow
from tests.conftest import SessionAuth, web_login
from tests.server import accounts_helpers
from tests.server.accounts_helpers import PASSWORD, events

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

pytestmark = pytest.mark.usefixtures("world")


def form(client: TestClient) -> str:
    page = client.get("/admin/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def post_login(client: TestClient, email: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    data = {"email": email, "password": password, "csrf_token": form(client), **extra}
    return client.post("/admin/login", data=data, follow_redirects=False)


def test_signing_in_sets_a_hardened_cookie_and_stores_only_its_hash(app_client, shop_services) -> None:
    response = post_login(app_client, "Owner@A.example ", PASSWORD, next="/admin/users")
    assert response.status_code == 303 and response.headers["location"] == "/admin/users"
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("frontdesk_session="))
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header and "Secure" not in header
    raw = response.cookies["frontdesk_session"]
    assert len(raw) >= 43  # 256 bits, url-safe base64
    with Session(shop_services.engine) as session:
        row = session.get(ConsoleSession, sessions.token_hash(raw))
        assert row is not None and session.get(ConsoleSession, raw) is None
    assert app_client.get("/admin/users").status_code == 200
    assert [e.actor for e in events(shop_services, "login.ok")] == ["owner@a.example"]


@pytest.mark.parametrize("email,password", [("owner@a.example", "wrong password"), ("nobody@a.example", PASSWORD)])
def test_a_wrong_login_says_the_same_for_unknown_and_known_e_mails(app_client, shop_services, email, password) -> None:
    response = post_login(app_client, email, password)
    assert response.status_code == 401 and "Wrong e-mail or password." in response.text
    assert "frontdesk_session" not in response.cookies
    (failed,) = events(shop_services, "login.failed")
    assert failed.target == email and failed.ip == "testclient"


def test_the_sign_in_form_needs_its_double_submit_token(app_client) -> None:
    form(app_client)
    forged = app_client.post("/admin/login", data={"email": "owner@a.example", "password": PASSWORD,
                                                   "csrf_token": "x" * 43}, follow_redirects=False)
    assert forged.status_code == 403 and "frontdesk_session" not in forged.cookies
    app_client.cookies.clear()
    no_cookie = app_client.post("/admin/login", data={"email": "owner@a.example", "password": PASSWORD,
                                                      "csrf_token": "x" * 43}, follow_redirects=False)
    assert no_cookie.status_code == 403


def test_every_sign_in_gets_a_new_session_id_and_ends_the_old_one(app_client, shop_services) -> None:
    first = post_login(app_client, "owner@a.example", PASSWORD).cookies["frontdesk_session"]
    planted = "attacker-chosen-session-id-0123456789abcdef"
    app_client.cookies.clear()
    app_client.cookies.set("frontdesk_session", planted)
    assert app_client.get("/admin/", follow_redirects=False).status_code == 303  # a planted id is nobody's session
    app_client.cookies.clear()
    app_client.cookies.set("frontdesk_session", first)
    second = post_login(app_client, "owner@a.example", PASSWORD).cookies["frontdesk_session"]
    assert second not in (first, planted)
    with Session(shop_services.engine) as session:
        assert session.get(ConsoleSession, sessions.token_hash(first)) is None
        assert session.get(ConsoleSession, sessions.token_hash(second)) is not None


def test_sign_out_needs_the_csrf_token_and_ends_the_session(app_client, shop_services) -> None:
    auth = web_login(app_client, "agent@a.example", PASSWORD)
    refused = app_client.post("/admin/logout", headers={"Cookie": f"frontdesk_session={auth.cookie}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    out = app_client.post("/admin/logout", auth=auth, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert any(h.startswith("frontdesk_session=") and "Max-Age=0" in h for h in out.headers.get_list("set-cookie"))
    again = app_client.get("/admin/", auth=auth, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/admin/login")
    assert len(events(shop_services, "logout")) == 1


@pytest.mark.parametrize("field,age", [("last_seen_at", sessions.IDLE_TIMEOUT), ("expires_at", timedelta(0))])
def test_idle_and_absolute_timeouts_end_a_session(app_client, shop_services, field: str, age: timedelta) -> None:
    auth = web_login(app_client, "owner@a.example", PASSWORD)
    with Session(shop_services.engine) as session:
        row = session.get(ConsoleSession, sessions.token_hash(auth.cookie))
        setattr(row, field, utcnow() - age - timedelta(seconds=1))
        session.add(row)
        session.commit()
    assert app_client.get("/admin/", auth=auth, follow_redirects=False).status_code == 303
    assert app_client.get("/api/v1/bots/shop/documents", auth=auth).status_code == 401
    with Session(shop_services.engine) as session:
        assert session.get(ConsoleSession, sessions.token_hash(auth.cookie)) is None


def test_activity_moves_the_idle_deadline(app_client, shop_services) -> None:
    auth = web_login(app_client, "owner@a.example", PASSWORD)
    with Session(shop_services.engine) as session:
        row = session.get(ConsoleSession, sessions.token_hash(auth.cookie))
        row.last_seen_at = utcnow() - sessions.IDLE_TIMEOUT + timedelta(minutes=5)
        session.add(row)
        session.commit()
    assert app_client.get("/admin/", auth=auth).status_code == 200
    with Session(shop_services.engine) as session:
        seen = sessions.aware(session.get(ConsoleSession, sessions.token_hash(auth.cookie)).last_seen_at)
    assert utcnow() - seen < timedelta(minutes=1)


def test_unsigned_console_pages_redirect_and_the_api_answers_401_in_the_error_shape(app_client) -> None:
    page = app_client.get("/admin/bots/shop/rules?edit=r_1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/admin/login?next=%2Fadmin%2Fbots%2Fshop%2Frules%3Fedit%3Dr_1"
    login_page = app_client.get(page.headers["location"])
    assert 'name="next" value="/admin/bots/shop/rules?edit=r_1"' in login_page.text
    api = app_client.get("/api/v1/bots/shop/documents")
    assert api.status_code == 401 and api.json() == {"error": {"code": "unauthorized", "message": "sign in first"}}
    posted = app_client.post("/admin/bots/shop/rules", data={"name": "x"})
    assert posted.status_code == 401 and posted.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("target,expected", [
    ("/admin/users?x=1", "/admin/users?x=1"), ("//evil.example/x", "/admin/"), ("https://evil.example", "/admin/"),
    ("/\\evil.example", "/admin/"), ("javascript:alert(1)", "/admin/"), ("/admin/\r\nSet-Cookie:x=1", "/admin/"),
    ("", "/admin/"), ("admin/users", "/admin/"),
])
def test_only_same_site_relative_next_urls_are_followed(target: str, expected: str) -> None:
    assert safe_next(target) == expected


def test_an_offsite_next_is_ignored_after_sign_in(app_client) -> None:
    response = post_login(app_client, "owner@a.example", PASSWORD, next="//evil.example/steal")
    assert response.status_code == 303 and response.headers["location"] == "/admin/"


def test_repeated_failures_lock_the_account_out_from_that_address(app_client, shop_services) -> None:
    for _ in range(MAX_PER_ACCOUNT):
        assert post_login(app_client, "viewer@a.example", "nope nope nope").status_code == 401
    locked = post_login(app_client, "viewer@a.example", PASSWORD)
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert "frontdesk_session" not in locked.cookies
    assert post_login(app_client, "owner@a.example", PASSWORD).status_code == 303  # other accounts still sign in


def test_the_throttle_window_and_lockout_expire() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(MAX_PER_ACCOUNT - 1):
        throttle.failed("a@x", "1.2.3.4")
    now[0] += 16 * 60  # old failures leave the window
    throttle.failed("a@x", "1.2.3.4")
    assert throttle.retry_after("a@x", "1.2.3.4") == 0
    for _ in range(MAX_PER_ACCOUNT):
        throttle.failed("a@x", "1.2.3.4")
    assert 0 < throttle.retry_after("a@x", "1.2.3.4") <= 15 * 60
    assert throttle.retry_after("a@x", "5.6.7.8") == 0
    now[0] += 15 * 60 + 1
    assert throttle.retry_after("a@x", "1.2.3.4") == 0


def test_cookies_are_secure_on_https_and_in_production(shop_services) -> None:
    settings = shop_services.settings.model_copy(update={"environment": "production"})
    with TestClient(create_app(settings, shop_services)) as client:
        page = client.get("/admin/login")  # over plain http the client keeps the Secure form cookie to itself
        assert "Secure" in page.headers["set-cookie"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        response = client.post("/admin/login", follow_redirects=False, headers={"Cookie": f"frontdesk_form={token}"},
                               data={"email": "owner@a.example", "password": PASSWORD, "csrf_token": token})
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("frontdesk_session="))
    assert "Secure" in header
    with TestClient(create_app(shop_services.settings, shop_services), base_url="https://testserver") as client:
        response = post_login(client, "owner@a.example", PASSWORD)
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("frontdesk_session="))
    assert "Secure" in header


def test_changing_the_password_ends_every_other_session(app_client, shop_services) -> None:
    other_browser = web_login(app_client, "agent@a.example", PASSWORD)
    this_browser = web_login(app_client, "agent@a.example", PASSWORD)
    new = {"password": "a new password!", "confirm": "a new password!"}
    wrong = app_client.post("/admin/account/password", auth=this_browser, data={"current": "not it at all", **new})
    assert wrong.status_code == 403
    short = app_client.post("/admin/account/password", auth=this_browser,
                            data={"current": PASSWORD, "password": "short", "confirm": "short"})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    changed = app_client.post("/admin/account/password", auth=this_browser, follow_redirects=False,
                              data={"current": PASSWORD, "password": "a new password!", "confirm": "a new password!"})
    assert changed.status_code == 303
    fresh = SessionAuth(changed.cookies["frontdesk_session"], "")
    assert app_client.get("/admin/", auth=other_browser, follow_redirects=False).status_code == 303
    assert app_client.get("/admin/", auth=this_browser, follow_redirects=False).status_code == 303
    assert app_client.get("/admin/", auth=fresh).status_code == 200
    with Session(shop_services.engine) as session:
        assert len(session.exec(select(ConsoleSession)).all()) == 1
    web_login(app_client, "agent@a.example", "a new password!")
    assert events(shop_services, "user.password")[0].details == {"sessions_ended": 2}

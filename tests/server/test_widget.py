"""The website widget's server side: public keys, config, origin checks, identity verification, frames."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.websockets import WebSocketDisconnect

from server import widget
from server.app import create_app
from server.context import Services
from server.errors import BadRequest
from server.tables import Bot, Conversation, Feedback, Tenant, User
from tests.conftest import make_settings

LOGINS = {"owner": ("owner@widget.test", "owner-pw"), "viewer": ("viewer@widget.test", "viewer-pw")}


def widget_services(folder: Path) -> Services:
    """Services with one tenant, its logins and a bot named demo; no models: nothing here runs a turn."""
    services = Services.open(make_settings(folder, seed_demo=False))
    with Session(services.engine) as session:
        tenant = Tenant(name="Widget tests")
        session.add(tenant)
        session.flush()
        session.add(Bot(tenant_id=tenant.id, slug="demo", name="Demo"))
        for role, (email, password) in LOGINS.items():
            hashed = PasswordHasher().hash(password)
            session.add(User(tenant_id=tenant.id, email=email, password_hash=hashed, role=role))
        session.commit()
    return services


@pytest.fixture(scope="module")
def demo_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """This module's deployment (the name shadows the seeded one of tests/conftest.py on purpose)."""
    services = widget_services(tmp_path_factory.mktemp("widget"))
    yield services
    services.close()


@pytest.fixture()
def client(demo_services: Services) -> Iterator[TestClient]:
    """A TestClient on this module's deployment."""
    with TestClient(create_app(demo_services.settings, demo_services)) as test_client:
        yield test_client


def make_bot(services, **settings: Any) -> Bot:  # type: ignore[no-untyped-def]
    """A bot of the test tenant with these widget settings."""
    with Session(services.engine, expire_on_commit=False) as session:
        tenant = session.exec(select(Tenant)).first()
        bot = Bot(tenant_id=tenant.id, slug=f"w-{uuid.uuid4().hex[:8]}", name="Widget shop", greeting="Hello!",
                  widget=widget.WidgetSettings(**settings).model_dump())
        session.add(bot)
        session.commit()
        return bot


def with_secret(services, bot: Bot) -> str:  # type: ignore[no-untyped-def]
    with Session(services.engine, expire_on_commit=False) as session:
        return widget.set_identity_secret(session, services.secrets, session.get(Bot, bot.id))


def sign(secret: str, user_id: str) -> str:
    """What the business's server computes (written out here, not through server.widget)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def conversation(services, conversation_id: str) -> Conversation:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        return session.get(Conversation, conversation_id)


# ---- settings and keys ---------------------------------------------------------------------------
def test_every_bot_gets_its_own_public_key(demo_services) -> None:
    a, b = make_bot(demo_services), make_bot(demo_services)
    assert a.public_key.startswith("pk_") and b.public_key.startswith("pk_") and a.public_key != b.public_key
    with Session(demo_services.engine) as session:
        assert widget.bot_by_key(session, a.public_key).id == a.id
        with pytest.raises(Exception) as missing:
            widget.bot_by_key(session, "pk_nope")
    assert missing.value.code == "unknown_bot"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("https://Shop.example/", "https://shop.example"), ("https://shop.example:443", "https://shop.example"),
     ("http://localhost:3000", "http://localhost:3000"), ("http://[::1]:8080", "http://[::1]:8080")],
)
def test_origins_are_normalized(given: str, expected: str) -> None:
    assert widget.normalize_origin(given) == expected


@pytest.mark.parametrize("bad", ["shop.example", "ftp://shop.example", "https://shop.example/path", "https://"])
def test_a_bad_origin_is_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(BadRequest, match="not an origin"):
        widget.normalize_origin(bad)


def test_settings_are_validated_field_by_field() -> None:
    assert widget.parse_settings({"color": "#ABCDEF"}).color == "#abcdef"
    for values, field in [({"color": "red"}, "color"), ({"logo_url": "javascript:alert(1)"}, "logo_url"),
                          ({"position": "top"}, "position"), ({"allowed_origins": ["nope"]}, "allowed_origins")]:
        with pytest.raises(BadRequest) as error:
            widget.parse_settings(values)
        assert error.value.message.startswith(field), error.value.message


def test_identity_hash_is_hmac_sha256_hex_compared_whole() -> None:
    secret = "ids_test"
    good = sign(secret, "42")
    assert widget.verify_identity(secret, "42", good)
    assert widget.verify_identity(secret, "42", good.upper())
    assert not widget.verify_identity(secret, "43", good)
    assert not widget.verify_identity(secret, "42", good[:-1])
    assert not widget.verify_identity(secret, "42", "é" * 64)
    assert not widget.verify_identity(None, "42", good)
    assert not widget.verify_identity(secret, "42", None)


def test_the_identity_secret_is_stored_sealed(demo_services) -> None:
    bot = make_bot(demo_services)
    secret = with_secret(demo_services, bot)
    with Session(demo_services.engine) as session:
        stored = session.get(Bot, bot.id)
        assert secret not in json.dumps(stored.identity_secret) and set(stored.identity_secret) == {"fernet"}
        assert widget.identity_secret(demo_services.secrets, stored) == secret


# ---- HTTP: script, config, origin ----------------------------------------------------------------
def test_script_and_demo_page_embed_the_demo_bots_key(client, demo_services) -> None:
    script = client.get("/widget.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in script.text
    assert client.get("/widget.css").headers["content-type"].startswith("text/css")
    with Session(demo_services.engine) as session:
        key = session.exec(select(Bot).where(Bot.slug == "demo")).one().public_key
    page = client.get("/")
    assert f'src="/widget.js" data-key="{key}"' in page.text


def test_config_is_public_and_holds_no_secret(client, demo_services) -> None:
    bot = make_bot(demo_services, color="#aa3300", position="left", uploads=True, voice=True)
    secret = with_secret(demo_services, bot)
    response = client.get(f"/api/v1/widget/{bot.public_key}/config", headers={"origin": "https://any.example"})
    assert response.status_code == 200
    body = response.json()
    assert body["color"] == "#aa3300" and body["position"] == "left" and body["greeting"] == "Hello!"
    assert body["uploads"] is True and body["identity"] is True
    assert body["voice"] is True  # the bot turned voice on (the endpoint answers 503 voice_off without speech-to-text)
    assert secret not in response.text and "fernet" not in response.text and "allowed_origins" not in body
    assert response.headers["access-control-allow-origin"] == "https://any.example"
    unknown = client.get("/api/v1/widget/pk_nope/config")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_bot"


def test_config_checks_the_origin(client, demo_services) -> None:
    bot = make_bot(demo_services, allowed_origins=["https://shop.example"])
    url = f"/api/v1/widget/{bot.public_key}/config"
    assert client.get(url, headers={"origin": "https://shop.example"}).status_code == 200
    refused = client.get(url, headers={"origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    assert "https://evil.example" in refused.json()["error"]["message"]
    assert refused.headers["access-control-allow-origin"] == "https://evil.example"  # so the widget can say why
    assert client.get(url, headers={"origin": "http://testserver"}).status_code == 200  # the server's own pages
    assert client.get(url).status_code == 200  # no Origin: same-origin page or a program (see check_origin)


# ---- websocket: origin, identity -----------------------------------------------------------------
def test_widget_socket_refuses_a_foreign_origin_with_a_reason(client, demo_services) -> None:
    bot = make_bot(demo_services, allowed_origins=["https://shop.example"])
    with client.websocket_connect(f"/ws/widget/{bot.public_key}", headers={"origin": "https://evil.example"}) as ws:
        assert ws.receive_json()["code"] == "origin_not_allowed"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4403 and closed.value.reason == "origin_not_allowed"
    # the slug socket applies the same list, so it is no way around it
    with client.websocket_connect(f"/ws/chat/{bot.slug}", headers={"origin": "https://evil.example"}) as ws:
        assert ws.receive_json()["code"] == "origin_not_allowed"
    with client.websocket_connect(f"/ws/widget/{bot.public_key}", headers={"origin": "https://shop.example"}) as ws:
        ws.send_json({"type": "hello"})
        assert ws.receive_json()["type"] == "ready"
    with client.websocket_connect("/ws/widget/pk_nope") as ws:
        assert ws.receive_json()["code"] == "unknown_bot"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


def test_a_verified_customer_is_set_and_resumed_across_devices(client, demo_services) -> None:
    bot = make_bot(demo_services)
    secret = with_secret(demo_services, bot)
    hello = {"type": "hello", "user_id": "cust-42", "user_hash": sign(secret, "cust-42"),
             "user_name": "Ana", "user_email": "ana@example.com"}
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json(hello)
        ready = ws.receive_json()
    assert ready["type"] == "ready" and ready["customer"] == "cust-42"
    stored = conversation(demo_services, ready["conversation_id"])
    assert stored.external_user_id == "cust-42" and stored.attributes == {"name": "Ana", "email": "ana@example.com"}
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:  # another device: no stored id
        ws.send_json({"type": "hello", "user_id": "cust-42", "user_hash": sign(secret, "cust-42")})
        assert ws.receive_json()["conversation_id"] == ready["conversation_id"]
        # an anonymous visitor on a shared browser does not get the customer's conversation
        ws.send_json({"type": "hello", "conversation_id": ready["conversation_id"]})
        assert ws.receive_json()["code"] == "unknown_conversation"


def test_an_anonymous_conversation_becomes_the_customers_on_identify(client, demo_services) -> None:
    bot = make_bot(demo_services)
    secret = with_secret(demo_services, bot)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello"})
        anonymous = ws.receive_json()
        assert anonymous["customer"] is None
        ws.send_json({"type": "hello", "conversation_id": anonymous["conversation_id"],
                      "user_id": "new-7", "user_hash": sign(secret, "new-7")})
        assert ws.receive_json()["conversation_id"] == anonymous["conversation_id"]
    assert conversation(demo_services, anonymous["conversation_id"]).external_user_id == "new-7"


@pytest.mark.parametrize("user_hash", [None, "0" * 64, "not hex"])
def test_a_bad_or_missing_hash_is_refused_and_never_trusted(client, demo_services, user_hash) -> None:
    bot = make_bot(demo_services)
    secret = with_secret(demo_services, bot)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello", "user_id": "victim", "user_hash": user_hash})
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == "identity_invalid"
        ws.send_json({"type": "hello", "user_id": "victim", "user_hash": sign(secret + "x", "victim")})
        assert ws.receive_json()["code"] == "identity_invalid"
        ws.send_json({"type": "hello"})  # the socket stays usable, anonymously
        ready = ws.receive_json()
    assert ready["customer"] is None
    with Session(demo_services.engine) as session:
        owned = session.exec(select(Conversation).where(Conversation.bot_id == bot.id)).all()
    assert [c.external_user_id for c in owned] == [None]


def test_identify_is_refused_when_the_bot_has_no_secret(client, demo_services) -> None:
    bot = make_bot(demo_services)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello", "user_id": "42", "user_hash": sign("guess", "42")})
        error = ws.receive_json()
    assert error["code"] == "identity_invalid" and "identity verification" in error["message"]


def test_regenerating_the_secret_invalidates_old_hashes(client, demo_services) -> None:
    bot = make_bot(demo_services)
    old = with_secret(demo_services, bot)
    new = with_secret(demo_services, bot)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello", "user_id": "42", "user_hash": sign(old, "42")})
        assert ws.receive_json()["code"] == "identity_invalid"
        ws.send_json({"type": "hello", "user_id": "42", "user_hash": sign(new, "42")})
        assert ws.receive_json()["customer"] == "42"


# ---- websocket: feedback, events, locale ---------------------------------------------------------
def test_feedback_events_and_locale_frames_are_stored(client, demo_services) -> None:
    bot = make_bot(demo_services)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "event", "name": "cart_viewed", "data": {}})
        assert ws.receive_json()["code"] == "no_conversation"
        ws.send_json({"type": "hello", "locale": "en-GB"})
        conversation_id = ws.receive_json()["conversation_id"]
        for items in (2, 3):
            ws.send_json({"type": "event", "name": "cart_viewed", "data": {"items": items}})
            assert ws.receive_json() == {"type": "tracked", "name": "cart_viewed"}
        ws.send_json({"type": "event", "name": "bad name!", "data": {}})
        assert ws.receive_json()["code"] == "bad_request"
        ws.send_json({"type": "locale", "locale": "fr-FR"})
        assert ws.receive_json() == {"type": "locale_set", "locale": "fr-FR"}
        ws.send_json({"type": "feedback", "kind": "csat", "score": 6})
        assert ws.receive_json()["code"] == "invalid_score"
        ws.send_json({"type": "feedback", "kind": "csat", "score": 4, "comment": "quick, thanks"})
        assert ws.receive_json() == {"type": "feedback_saved", "kind": "csat", "message_id": None}
    stored = conversation(demo_services, conversation_id)
    assert stored.locale == "fr-FR"
    assert stored.attributes["events"]["cart_viewed"]["count"] == 2
    assert stored.attributes["events"]["cart_viewed"]["data"] == {"items": 3}
    with Session(demo_services.engine) as session:
        rating = session.exec(select(Feedback).where(Feedback.conversation_id == conversation_id)).one()
    assert (rating.kind, rating.score, rating.comment) == ("csat", 4, "quick, thanks")

"""The widget's console page and customer uploads."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server import widget
from server.app import create_app
from server.context import Services
from server.tables import Bot, Message
from tests.conftest import ConsoleTestClient, SessionAuth, console_auth
from tests.server.test_widget import LOGINS, make_bot, widget_services

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def demo_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    services = widget_services(tmp_path_factory.mktemp("widget-console"))
    yield services
    services.close()


@pytest.fixture(scope="module")
def OWNER(demo_services: Services) -> SessionAuth:  # noqa: N802  (reads like the constant it replaced)
    return console_auth(demo_services, LOGINS["owner"][0])


@pytest.fixture(scope="module")
def VIEWER(demo_services: Services) -> SessionAuth:  # noqa: N802
    return console_auth(demo_services, LOGINS["viewer"][0])


@pytest.fixture()
def client(demo_services: Services) -> Iterator[TestClient]:
    with ConsoleTestClient(create_app(demo_services.settings, demo_services)) as test_client:
        yield test_client


def stored(services, bot: Bot) -> Bot:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        return session.get(Bot, bot.id)


def test_the_page_needs_a_login_and_shows_the_snippet_escaped(client, demo_services, OWNER) -> None:  # noqa: N803
    bot = make_bot(demo_services, greeting="<script>alert(1)</script>")
    url = f"/admin/bots/{bot.slug}/widget"
    assert client.get(url, follow_redirects=False).status_code == 303
    page = client.get(url, auth=OWNER)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'data-key=&#34;{bot.public_key}&#34;' in page.text  # the snippet, shown as text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert "hmac.new(" in page.text and "createHmac" in page.text
    home = client.get("/admin/", auth=OWNER)
    assert f"/admin/bots/{bot.slug}/widget" in home.text


def test_saving_settings_validates_and_stores_them(client, demo_services, OWNER, VIEWER) -> None:  # noqa: N803
    bot = make_bot(demo_services)
    url = f"/admin/bots/{bot.slug}/widget"
    form = {"color": "#336699", "greeting": "Hi there", "position": "left", "launcher_label": "Help",
            "allowed_origins": "https://shop.example/\nhttp://localhost:3000", "csat_on_close": "true",
            "uploads": "true"}
    saved = client.post(url, data=form, auth=OWNER, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=saved")
    settings = widget.settings_of(stored(demo_services, bot))
    assert settings.allowed_origins == ["https://shop.example", "http://localhost:3000"]
    assert (settings.color, settings.position, settings.uploads) == ("#336699", "left", True)
    assert settings.csat_on_close is True and settings.csat_on_resolve is False
    bad = client.post(url, data={**form, "allowed_origins": "shop.example"}, auth=OWNER)
    assert bad.status_code == 400 and "allowed_origins" in bad.text and "https://shop.example" in bad.text
    assert widget.settings_of(stored(demo_services, bot)).allowed_origins == settings.allowed_origins
    assert client.post(url, data=form, auth=VIEWER).status_code == 403


def test_regenerating_the_secret_shows_it_once_and_stores_it_sealed(client, demo_services, OWNER, VIEWER) -> None:  # noqa: N803,E501
    bot = make_bot(demo_services)
    url = f"/admin/bots/{bot.slug}/widget/identity-secret"
    assert client.post(url, auth=VIEWER).status_code == 403
    page = client.post(url, auth=OWNER)
    assert page.status_code == 200
    secret = page.text.split('id="identity-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("ids_")
    row = stored(demo_services, bot)
    assert secret not in json.dumps(row.identity_secret)
    assert widget.identity_secret(demo_services.secrets, row) == secret
    again = client.get(f"/admin/bots/{bot.slug}/widget", auth=OWNER)
    assert secret not in again.text and "An identity secret is set" in again.text


def start(client, bot: Bot) -> str:  # type: ignore[no-untyped-def]
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello"})
        return ws.receive_json()["conversation_id"]


def test_an_uploaded_image_becomes_a_message_with_a_safe_link(client, demo_services) -> None:
    bot = make_bot(demo_services, uploads=True)
    conversation_id = start(client, bot)
    url = f"/api/v1/widget/{bot.public_key}/uploads?conversation_id={conversation_id}"
    sent = client.post(url, files={"file": ("photo.png", PNG, "image/png")}, headers={"origin": "https://a.example"})
    assert sent.status_code == 201, sent.text
    assert sent.headers["access-control-allow-origin"] == "https://a.example"
    body = sent.json()
    assert body["message"]["role"] == "customer" and body["url"] in body["message"]["text"]
    assert "photo.png" in body["message"]["text"]
    served = client.get(body["url"])
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png" and served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    with Session(demo_services.engine) as session:
        texts = session.exec(select(Message.text).where(Message.conversation_id == conversation_id)).all()
    assert texts == [body["message"]["text"]]


def test_uploads_refuse_other_types_and_wrong_conversations(client, demo_services) -> None:
    bot = make_bot(demo_services, uploads=True)
    conversation_id = start(client, bot)
    url = f"/api/v1/widget/{bot.public_key}/uploads"
    html = client.post(f"{url}?conversation_id={conversation_id}",
                       files={"file": ("x.png", b"<html><script>alert(1)</script>", "image/png")})
    assert html.status_code == 400 and html.json()["error"]["code"] == "unsupported_type"
    other = client.post(f"{url}?conversation_id=c_nope", files={"file": ("a.png", PNG, "image/png")})
    assert other.status_code == 404 and other.json()["error"]["code"] == "unknown_conversation"
    off = make_bot(demo_services)
    refused = client.post(f"/api/v1/widget/{off.public_key}/uploads?conversation_id={start(client, off)}",
                          files={"file": ("a.png", PNG, "image/png")})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "uploads_off"
    assert client.get(f"{url}/../../secret.key").status_code == 404
    assert client.get(f"{url}/f_nope.png").status_code == 404


def test_an_upload_over_the_limit_is_refused_and_not_kept(client, demo_services) -> None:
    from server.api.widget import UPLOAD_DIR, UPLOAD_MAX_BYTES

    bot = make_bot(demo_services, uploads=True)
    big = PNG + b"\x00" * UPLOAD_MAX_BYTES
    response = client.post(f"/api/v1/widget/{bot.public_key}/uploads?conversation_id={start(client, bot)}",
                           files={"file": ("big.png", big, "image/png")})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    folder = demo_services.settings.data_dir / UPLOAD_DIR / bot.id
    assert [p for p in folder.rglob("*") if p.is_file()] == []

"""The console's channels page: connect, edit, enable/disable, delete, status log and test messages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.api.channels import get_channels
from server.channels import manage
from server.channels.configs import add_channel
from server.channels.service import ChannelService
from server.channels.status import channel_status
from server.errors import BadRequest
from server.secret_box import is_sealed
from server.tables import Bot, ChannelConfig, ChannelDelivery, Conversation, Message, utcnow
from tests.channels.helpers import FAST, FakePlatform
from tests.conftest import console_auth
from tests.server import accounts_helpers
from tests.server.accounts_helpers import events

app_client = accounts_helpers.app_client  # fixture
world = accounts_helpers.world  # fixture

PAGE = "/admin/bots/shop/channels"
TOKEN = "123456:AAH-very-secret-bot-token"


@pytest.fixture()
def telegram(app_client: TestClient) -> Iterator[FakePlatform]:
    """The platforms' send APIs, faked: the app's channel service (and so the test send) talks to it."""
    fake = FakePlatform(default={"ok": True, "result": {"message_id": 1}, "errcode": 0, "access_token": "AT"})
    service = ChannelService(app_client.app.state.chat, http=fake.client(), retry=FAST)
    app_client.app.dependency_overrides[get_channels] = lambda: service
    yield fake
    app_client.app.dependency_overrides.clear()


def owner(world) -> Any:  # type: ignore[no-untyped-def]
    return console_auth(world.services, "owner@a.example")


def stored_channels(world) -> list[ChannelConfig]:  # type: ignore[no-untyped-def]
    with Session(world.services.engine) as session:
        return list(session.exec(select(ChannelConfig)).all())


def connect(client: TestClient, auth: Any, **fields: str) -> httpx.Response:
    return client.post(PAGE, data={"kind": "telegram", "name": "main", **fields}, auth=auth, follow_redirects=False)


def a_channel(world, **settings: str) -> str:  # type: ignore[no-untyped-def]
    """A Telegram channel of bot shop, stored directly; its id."""
    config = {"bot_token": TOKEN, "secret_token": "s3cret-token-value", **settings}
    info, _ = add_channel(world.services.engine, world.services.secrets, "shop", "telegram", "main", config)
    return info.id


def test_owner_sees_a_connect_form_for_every_kind(app_client, world) -> None:  # type: ignore[no-untyped-def]
    page = app_client.get(PAGE, auth=owner(world))
    assert page.status_code == 200 and "No channels yet" in page.text
    for kind in ("telegram", "slack", "meta", "line", "wechat", "generic"):
        assert f'id="connect-{kind}"' in page.text
    assert 'name="bot_token"' in page.text and 'name="csrf_token"' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_bad_settings_are_shown_beside_the_form_and_nothing_is_stored(app_client, world) -> None:  # type: ignore[no-untyped-def]
    missing = connect(app_client, owner(world), bot_token="", api_base="https://tg.example")
    assert missing.status_code == 400
    assert re.search(r'id="connect-telegram" open>.*telegram channel needs bot_token', missing.text, re.S)
    assert 'value="https://tg.example"' in missing.text  # the visible settings typed are kept
    nameless = connect(app_client, owner(world), name=" ", bot_token=TOKEN)
    assert nameless.status_code == 400 and "give the channel a name" in nameless.text
    assert TOKEN not in nameless.text  # a secret typed is never sent back
    unknown = app_client.post(PAGE, data={"kind": "fax", "name": "x"}, auth=owner(world))
    assert unknown.status_code == 400 and "unknown channel kind &#39;fax&#39;" in unknown.text
    assert stored_channels(world) == [] and events(world.services, "channel.connect") == []


def test_connecting_telegram_shows_the_generated_secret_once_and_seals_it(app_client, world) -> None:  # type: ignore[no-untyped-def]
    auth = owner(world)
    made = connect(app_client, auth, bot_token=TOKEN)
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    [row] = stored_channels(world)
    opened = world.services.secrets.open(row.config)
    secret = opened["secret_token"]
    assert opened["bot_token"] == TOKEN and len(secret) >= 32
    assert secret in made.text and "not shown again" in made.text and TOKEN not in made.text
    assert is_sealed(row.config) and TOKEN not in json.dumps(row.config) and secret not in json.dumps(row.config)
    later = app_client.get(PAGE, auth=auth)
    assert secret not in later.text and TOKEN not in later.text and "bot_token</code>=***" in later.text
    assert f"http://testserver/webhooks/telegram/shop/{row.id}" in later.text
    [event] = events(world.services, "channel.connect")
    assert event.target == "shop/main" and event.details == {"kind": "telegram", "channel_id": row.id}
    again = connect(app_client, auth, bot_token=TOKEN)
    assert again.status_code == 409 and "already has a channel named" in again.text


def test_the_webhook_url_uses_the_channels_public_url(app_client, world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world, public_url="https://help.example.com/")
    page = app_client.get(PAGE, auth=owner(world))
    assert f"https://help.example.com/webhooks/telegram/shop/{channel_id}" in page.text


def test_editing_keeps_a_blank_secret_and_audits_the_changed_names(app_client, world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    url = f"{PAGE}/{channel_id}/settings"
    form = {"bot_token": "", "secret_token": "", "api_base": "https://tg.example", "public_url": ""}
    saved = app_client.post(url, data=form, auth=owner(world), follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?notice=saved#{channel_id}"
    [row] = stored_channels(world)
    opened = world.services.secrets.open(row.config)
    assert opened == {"bot_token": TOKEN, "secret_token": "s3cret-token-value", "api_base": "https://tg.example"}
    [event] = events(world.services, "channel.settings")
    assert event.details == {"channel_id": channel_id, "changed": ["api_base"]}
    assert TOKEN not in json.dumps(event.details)
    form["bot_token"] = "999:NEW"
    app_client.post(url, data=form, auth=owner(world))
    assert world.services.secrets.open(stored_channels(world)[0].config)["bot_token"] == "999:NEW"


def test_an_invalid_edit_is_shown_and_changes_nothing(app_client, world) -> None:  # type: ignore[no-untyped-def]
    info, _ = add_channel(world.services.engine, world.services.secrets, "shop", "wechat", "wx",
                          {"token": "tok", "appid": "wx123", "appsecret": "sec"})
    before = stored_channels(world)[0].config
    bad = app_client.post(f"{PAGE}/{info.id}/settings", data={"appid": "", "encoding_aes_key": "short"},
                          auth=owner(world))
    assert bad.status_code == 400 and "wechat channel needs appid" in bad.text
    assert stored_channels(world)[0].config == before and events(world.services, "channel.settings") == []


def test_disable_enable_and_delete(app_client, world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    hook = f"/webhooks/telegram/shop/{channel_id}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token-value"}
    off = app_client.post(f"{PAGE}/{channel_id}/enabled", data={"enabled": "0"}, auth=owner(world))
    assert off.status_code == 200 and "disabled" in off.text and not stored_channels(world)[0].enabled
    assert app_client.post(hook, json={"update_id": 1}, headers=headers).status_code == 404
    app_client.post(f"{PAGE}/{channel_id}/enabled", data={"enabled": "1"}, auth=owner(world))
    assert stored_channels(world)[0].enabled
    assert app_client.post(hook, json={"update_id": 1}, headers=headers).status_code == 200
    add_delivery(world, channel_id, "sent")
    gone = app_client.post(f"{PAGE}/{channel_id}/delete", auth=owner(world), follow_redirects=False)
    assert gone.status_code == 303 and stored_channels(world) == []
    with Session(world.services.engine) as session:
        assert session.exec(select(ChannelDelivery)).all() == []
    assert app_client.post(hook, json={"update_id": 2}, headers=headers).status_code == 404
    actions = [e.action for e in events(world.services, "channel.disable") + events(world.services, "channel.enable")
               + events(world.services, "channel.delete")]
    assert actions == ["channel.disable", "channel.enable", "channel.delete"]


def add_delivery(world, channel_id: str, status: str, error: str | None = None, minutes: int = 0,  # type: ignore[no-untyped-def]
                 kind: str = "telegram", user: str = "42") -> str:
    """A customer message, the bot's reply and its delivery row on the channel; the reply's id."""
    with Session(world.services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        conversation = Conversation(bot_id=bot.id, channel=kind, external_user_id=user)
        session.add(conversation)
        session.flush()
        at = utcnow() + timedelta(minutes=minutes)
        asked = Message(conversation_id=conversation.id, role="customer", text="where is my parcel?", created_at=at)
        reply = Message(conversation_id=conversation.id, role="bot", text=f"Reply {minutes}", created_at=at)
        session.add_all([asked, reply])
        session.flush()
        session.add(ChannelDelivery(message_id=reply.id, channel_id=channel_id, status=status, error=error,
                                    attempts=2 if error else 1, updated_at=at))
        session.commit()
        return reply.id


def test_status_shows_inbound_traffic_the_last_send_and_the_last_failure(app_client, world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    add_delivery(world, channel_id, "sent", minutes=-30)
    add_delivery(world, channel_id, "failed", "telegram sendMessage answered HTTP 403: bot was blocked", minutes=-20)
    add_delivery(world, channel_id, "sent", minutes=-10)
    page = app_client.get(PAGE, auth=console_auth(world.services, "viewer@a.example"))
    assert page.status_code == 200
    facts = re.sub(r"\s+", " ", page.text)
    assert "Messages received</dt><dd>3, last" in facts and "Replies sent</dt><dd>2, last" in facts
    assert "Failed sends</dt><dd>1, last" in facts and "bot was blocked" in facts
    assert facts.index("Reply -10") < facts.index("Reply -20") < facts.index("Reply -30")  # newest first
    with Session(world.services.engine) as session:
        state = channel_status(session, session.get(ChannelConfig, channel_id))
    assert (state.inbound_count, state.sent_count, state.failed_count) == (3, 2, 1)
    assert state.last_failure is not None and state.last_failure.excerpt == "Reply -20"
    assert state.last_failure.attempts == 2 and not state.shared_inbound
    assert [d.excerpt for d in state.recent] == ["Reply -10", "Reply -20", "Reply -30"]


def test_status_keeps_the_last_twenty_deliveries_and_flags_shared_inbound(world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    add_channel(world.services.engine, world.services.secrets, "shop", "telegram", "second",
                {"bot_token": "1:B", "secret_token": "another-secret"})
    for minute in range(22):
        add_delivery(world, channel_id, "sent", minutes=minute)
    add_delivery(world, channel_id, "sent", kind="slack", user="C1/U1")  # another platform: not counted
    with Session(world.services.engine) as session:
        state = channel_status(session, session.get(ChannelConfig, channel_id))
    assert len(state.recent) == 20 and state.recent[0].excerpt == "Reply 21" and state.sent_count == 23
    assert state.inbound_count == 22 and state.shared_inbound and state.last_failure is None


def test_a_test_message_goes_through_telegram_sendmessage(app_client, world, telegram) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    form = {"destination": "-100123", "text": "Hello from the console"}
    sent = app_client.post(f"{PAGE}/{channel_id}/test", data=form, auth=owner(world))
    assert sent.status_code == 200 and "Sent (1 message)." in sent.text
    [request] = telegram.requests
    assert request.method == "POST" and str(request.url) == f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert json.loads(request.content) == {"chat_id": -100123, "text": "Hello from the console"}
    assert TOKEN not in sent.text
    [event] = events(world.services, "channel.test")
    assert event.details == {"channel_id": channel_id, "ok": True}


def test_a_refused_test_message_shows_the_platforms_error(app_client, world, telegram) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    telegram.script.append(httpx.Response(400, json={"ok": False, "description": "Bad Request: chat not found"}))
    form = {"destination": "@nobody", "text": "Hi"}
    sent = app_client.post(f"{PAGE}/{channel_id}/test", data=form, auth=owner(world))
    assert sent.status_code == 502 and "Bad Request: chat not found" in sent.text
    assert json.loads(telegram.requests[0].content)["chat_id"] == "@nobody"
    assert events(world.services, "channel.test")[0].details["ok"] is False
    empty = app_client.post(f"{PAGE}/{channel_id}/test", data={"destination": " ", "text": "Hi"}, auth=owner(world))
    assert empty.status_code == 400 and "enter the chat id" in empty.text and len(telegram.requests) == 1


def test_the_page_states_each_platforms_first_contact_limits(app_client, world) -> None:  # type: ignore[no-untyped-def]
    for kind, settings in (("meta", {"app_secret": "a", "access_token": "b"}),
                           ("line", {"channel_secret": "a", "channel_access_token": "b"}),
                           ("wechat", {"token": "t", "appid": "wx1", "appsecret": "s"})):
        add_channel(world.services.engine, world.services.secrets, "shop", kind, kind, settings)
    page = app_client.get(PAGE, auth=owner(world)).text
    assert "within 24 hours of the person&#39;s last message" in page
    assert "only to people who added the account as a friend" in page
    assert "within 48 hours of their last message" in page


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_viewers_and_agents_see_masked_settings_and_change_nothing(app_client, world, role: str) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    auth = console_auth(world.services, f"{role}@a.example")
    page = app_client.get(PAGE, auth=auth)
    assert page.status_code == 200 and "bot_token</code>=***" in page.text and TOKEN not in page.text
    assert 'id="connect-telegram"' not in page.text and '/test"' not in page.text and "Edit settings" not in page.text
    for path, data in ((PAGE, {"kind": "telegram", "name": "x", "bot_token": TOKEN}),
                       (f"{PAGE}/{channel_id}/settings", {"bot_token": "1:X"}),
                       (f"{PAGE}/{channel_id}/enabled", {"enabled": "0"}),
                       (f"{PAGE}/{channel_id}/test", {"destination": "1", "text": "hi"}),
                       (f"{PAGE}/{channel_id}/delete", {})):
        refused = app_client.post(path, data=data, auth=auth, follow_redirects=False)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", path
    [row] = stored_channels(world)
    assert row.enabled and world.services.secrets.open(row.config)["bot_token"] == TOKEN


def test_another_tenant_gets_404(app_client, world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    stranger = console_auth(world.services, "owner@b.example")
    assert app_client.get(PAGE, auth=stranger).status_code == 404
    for bot in ("shop", "other"):  # their own bot's URL with our channel id finds nothing either
        for action in ("settings", "enabled", "test", "delete"):
            response = app_client.post(f"/admin/bots/{bot}/channels/{channel_id}/{action}", data={"enabled": "0"},
                                       auth=stranger)
            assert response.status_code == 404, (bot, action)
            assert set(response.json()["error"]) == {"code", "message"}
    assert channel_id not in app_client.get("/admin/bots/other/channels", auth=stranger).text
    assert stored_channels(world)[0].enabled


def test_every_change_needs_the_csrf_token(app_client, world) -> None:  # type: ignore[no-untyped-def]
    channel_id = a_channel(world)
    session = owner(world)
    cookie = {"Cookie": f"frontdesk_session={session.cookie}"}
    for path in (PAGE, f"{PAGE}/{channel_id}/settings", f"{PAGE}/{channel_id}/enabled",
                 f"{PAGE}/{channel_id}/test", f"{PAGE}/{channel_id}/delete"):
        refused = app_client.post(path, data={"kind": "telegram", "name": "x", "enabled": "0"}, headers=cookie)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed", path
    with_field = app_client.post(f"{PAGE}/{channel_id}/enabled", headers=cookie, follow_redirects=False,
                                 data={"enabled": "0", "csrf_token": session.csrf})
    assert with_field.status_code == 303 and not stored_channels(world)[0].enabled
    page = app_client.get(PAGE, auth=session).text
    assert page.count('name="csrf_token"') == page.count('method="post"')


def test_test_addresses_per_platform() -> None:
    assert manage.test_address("telegram", " 42 ") == {"chat_id": 42}
    assert manage.test_address("meta", "1234:+4915112345678") == {
        "product": "whatsapp", "phone_number_id": "1234", "to": "4915112345678"}
    assert manage.test_address("meta", "6001") == {"product": "messenger", "to": "6001"}
    assert manage.test_address("wechat", "o6_b") == {"openid": "o6_b", "account": ""}
    with pytest.raises(BadRequest, match="PHONE_NUMBER_ID:PHONE"):
        manage.test_address("meta", "1234:")
    with pytest.raises(BadRequest, match="cannot send a test message"):
        manage.test_address("fax", "1")


@pytest.mark.parametrize("kind,settings,destination,url,body", [
    ("line", {"channel_secret": "s", "channel_access_token": "LT"}, "U1234",
     "https://api.line.me/v2/bot/message/push", {"to": "U1234", "messages": [{"type": "text", "text": "Hi"}]}),
    ("meta", {"app_secret": "s", "access_token": "MT"}, "1098:+4915112345678",
     "https://graph.facebook.com/v21.0/1098/messages",
     {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678", "type": "text",
      "text": {"preview_url": False, "body": "Hi"}}),
    ("slack", {"signing_secret": "s", "bot_token": "xoxb-1", "reply_in_thread": "1"}, "C0123",
     "https://slack.com/api/chat.postMessage", {"channel": "C0123", "text": "Hi"}),
    ("wechat", {"token": "t", "appid": "wx1", "appsecret": "as"}, "o6_openid",
     "https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=AT",
     {"touser": "o6_openid", "msgtype": "text", "text": {"content": "Hi"}}),
])
def test_test_messages_use_each_platforms_send_api(  # type: ignore[no-untyped-def]
    app_client, world, telegram, kind: str, settings: dict, destination: str, url: str, body: dict
) -> None:
    info, _ = add_channel(world.services.engine, world.services.secrets, "shop", kind, kind, settings)
    sent = app_client.post(f"{PAGE}/{info.id}/test", data={"destination": destination, "text": "Hi"},
                           auth=owner(world))
    assert sent.status_code == 200 and "Sent (1 message)." in sent.text
    request = telegram.requests[-1]
    assert str(request.url) == url and json.loads(request.content) == body


def test_a_generic_channel_without_reply_url_cannot_send(app_client, world, telegram) -> None:  # type: ignore[no-untyped-def]
    info, _ = add_channel(world.services.engine, world.services.secrets, "shop", "generic", "app", {})
    sent = app_client.post(f"{PAGE}/{info.id}/test", data={"destination": "u1", "text": "Hi"}, auth=owner(world))
    assert sent.status_code == 400 and "has no reply_url" in sent.text and telegram.requests == []

"""The webhook routes end to end on the demo deployment, with the platforms' send APIs faked."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.api.channels import get_channels
from server.channels.base import hmac_hex
from server.channels.configs import add_channel
from server.channels.service import ChannelService
from server.channels.wechat_crypto import sha1_signature
from server.tables import ChannelDelivery, Conversation, Message
from tests.channels.helpers import FAST, FakePlatform

pytestmark = pytest.mark.slow  # the demo deployment loads the packaged models once per session


@pytest.fixture()
def platform(client: TestClient) -> Iterator[FakePlatform]:
    """Every platform's send API, faked; the app's channel service talks to it."""
    fake = FakePlatform(default={"ok": True, "result": {}, "errcode": 0})
    service = ChannelService(client.app.state.chat, http=fake.client(), retry=FAST)
    client.app.dependency_overrides[get_channels] = lambda: service
    yield fake
    client.app.dependency_overrides.clear()


def channel(demo_services, kind: str, **settings: str) -> str:  # type: ignore[no-untyped-def]
    """A new channel of the demo bot; its webhook path."""
    info, _ = add_channel(
        demo_services.engine, demo_services.secrets, "demo", kind, f"{kind}-{uuid.uuid4().hex[:8]}", settings
    )
    return info.path


def update(user: int, update_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1000,
            "date": int(time.time()),
            "text": text,
            "chat": {"id": user, "type": "private", "first_name": "Ada"},
            "from": {"id": user, "is_bot": False, "first_name": "Ada", "language_code": "en"},
        },
    }


def stored(demo_services, kind: str, user: str) -> list[Message]:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        query = (
            select(Message)
            .join(Conversation)
            .where(Conversation.channel == kind, Conversation.external_user_id == user)
        )
        return list(session.exec(query.order_by(Message.created_at)).all())


def test_signed_telegram_update_is_answered_once_even_when_redelivered(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token="s3cret-token")
    user = int(uuid.uuid4().int % 10**9)
    body = update(user, 700001, "How long does shipping take?")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
    first = client.post(path, json=body, headers=headers)
    assert first.status_code == 200 and first.text == "ok"
    customer, reply = stored(demo_services, "telegram", str(user))
    assert (
        customer.role == "customer"
        and customer.client_id == "700001"
        and reply.reply_to == customer.id
    )
    assert "business days" in reply.text
    [send] = platform.requests
    assert str(send.url) == "https://api.telegram.org/bot42:TOKEN/sendMessage"
    sent = json.loads(send.content)
    assert (
        sent["chat_id"] == user
        and sent["text"].startswith(reply.text)
        and "Sources:" in sent["text"]
    )

    again = client.post(path, json=body, headers=headers)  # Telegram redelivers the same update
    assert again.status_code == 200
    assert len(stored(demo_services, "telegram", str(user))) == 2 and len(platform.requests) == 1


def test_failed_send_is_retried_on_redelivery_only(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token="tok")
    platform.script = [
        httpx.Response(500),
        httpx.Response(500),
        httpx.Response(500),
    ]  # all 3 attempts fail
    user = int(uuid.uuid4().int % 10**9)
    body = update(user, 700002, "hi")
    client.post(path, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "tok"})
    customer, reply = stored(demo_services, "telegram", str(user))
    with Session(demo_services.engine) as session:
        delivery = session.exec(
            select(ChannelDelivery).where(ChannelDelivery.message_id == reply.id)
        ).one()
    assert delivery.status == "failed" and "42:TOKEN" not in (delivery.error or "")
    client.post(path, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "tok"})
    assert len(platform.requests) == 4 and len(stored(demo_services, "telegram", str(user))) == 2
    client.post(path, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "tok"})
    assert len(platform.requests) == 4  # sent now: a third delivery sends nothing


def test_bad_secret_and_unknown_channels_are_refused(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token="right")
    user = int(uuid.uuid4().int % 10**9)
    refused = client.post(
        path, json=update(user, 1, "hi"), headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "bad_signature"
    assert "right" not in refused.text and stored(demo_services, "telegram", str(user)) == []
    kind, bot, channel_id = path.split("/")[2:]
    for wrong in (
        f"/webhooks/slack/{bot}/{channel_id}",
        f"/webhooks/{kind}/other/{channel_id}",
        f"/webhooks/{kind}/{bot}/ch_nope",
    ):
        answer = client.post(wrong, json={}, headers={"X-Telegram-Bot-Api-Secret-Token": "right"})
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "unknown_channel"
    assert client.get(path).status_code == 403  # a GET without the secret header
    assert platform.requests == []


def test_meta_and_slack_handshakes(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    meta = channel(demo_services, "meta", app_secret="as", verify_token="vt", access_token="at")
    ok = client.get(
        meta, params={"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "8675309"}
    )
    assert ok.status_code == 200 and ok.text == "8675309"
    assert (
        client.get(
            meta, params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
        ).status_code
        == 403
    )
    slack = channel(demo_services, "slack", signing_secret="ss", bot_token="xoxb")
    body = '{"type": "url_verification", "challenge": "abc123", "token": "t"}'
    ts = str(int(time.time()))
    signature = "v0=" + hmac_hex(b"ss", f"v0:{ts}:{body}".encode())
    answer = client.post(
        slack,
        content=body,
        headers={
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200 and answer.text == "abc123"


def wechat_post(
    client: TestClient, path: str, openid: str, msg_id: str, text: str
) -> httpx.Response:
    ts, nonce = str(int(time.time())), "n1"
    body = (
        f"<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )
    query = {
        "signature": sha1_signature("wxtoken", ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": openid,
    }
    return client.post(
        path, params=query, content=body.encode(), headers={"Content-Type": "text/xml"}
    )


def test_wechat_passive_reply_in_time_and_customer_service_api_when_late(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    patient = channel(
        demo_services,
        "wechat",
        token="wxtoken",
        appid="wxappid",
        appsecret="sec",
        passive_seconds="60",
    )
    openid = f"o{uuid.uuid4().hex[:10]}"
    answer = wechat_post(client, patient, openid, "900001", "How long does shipping take?")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/xml"
    )
    assert "<ToUserName><![CDATA[" + openid in answer.text and "business days" in answer.text
    assert platform.requests == []  # the reply travelled in the HTTP answer

    hasty = channel(
        demo_services,
        "wechat",
        token="wxtoken",
        appid="wxappid",
        appsecret="sec",
        passive_seconds="0.001",
    )
    platform.script = [httpx.Response(200, json={"access_token": "AT", "expires_in": 7200})]
    late = wechat_post(client, hasty, openid + "x", "900002", "How long does shipping take?")
    assert late.text == "success"
    token, send = platform.requests
    assert (
        send.url.path == "/cgi-bin/message/custom/send" and send.url.params["access_token"] == "AT"
    )
    assert "business days" in json.loads(send.content)["text"]["content"]


ORDER_QUESTION = "What's the status of my order NW-123456?"  # the demo's order_status_lookup rule
TALK = "I'd like to talk to a person"  # the payload of its "Talk to a person" quick reply


def test_rule_quick_replies_reach_telegram_as_buttons_and_a_press_is_the_payload(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token="qr-token")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "qr-token"}
    user = int(uuid.uuid4().int % 10**9)
    client.post(path, json=update(user, 710001, ORDER_QUESTION), headers=headers)
    customer, reply = stored(demo_services, "telegram", str(user))
    assert reply.trace["quick_replies"] == [{"title": "Talk to a person", "payload": TALK}]
    sent = [json.loads(r.content) for r in platform.requests]
    assert all("reply_markup" not in s for s in sent[:-1])
    assert sent[-1]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Talk to a person", "callback_data": TALK}]]
    }
    press = {
        "update_id": 710002,
        "callback_query": {
            "id": "cbq-710002",
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "message": {"message_id": 9, "date": int(time.time()), "chat": {"id": user, "type": "private"}},
            "chat_instance": "-1",
            "data": TALK,
        },
    }
    answer = client.post(path, json=press, headers=headers)
    assert answer.json() == {"method": "answerCallbackQuery", "callback_query_id": "cbq-710002"}
    pressed = stored(demo_services, "telegram", str(user))[2]
    assert (pressed.role, pressed.text, pressed.client_id) == ("customer", TALK, "710002")


def test_wechat_lists_quick_replies_as_numbers_and_an_answer_1_is_the_payload(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(
        demo_services, "wechat", token="wxtoken", appid="wxappid", appsecret="sec", passive_seconds="60"
    )
    openid = f"o{uuid.uuid4().hex[:10]}"
    answer = wechat_post(client, path, openid, "910001", ORDER_QUESTION)
    assert "Reply 1 for Talk to a person" in answer.text
    wechat_post(client, path, openid, "910002", "1")
    chosen = stored(demo_services, "wechat", openid)[2]
    assert (chosen.role, chosen.text) == ("customer", TALK)



def busy_for(runtime, times: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Make the runtime refuse its next `times` turns as busy; the list counts the refusals."""
    from bot.errors import GenerationBusy

    original, refused = runtime.answer, []

    def answer(*args: object, **kwargs: object) -> object:
        if len(refused) < times:
            refused.append(1)
            raise GenerationBusy(4, retry_after=0.01)
        return original(*args, **kwargs)

    runtime.answer = answer
    return refused


@pytest.fixture()
def quick_busy_platform(client: TestClient, platform: FakePlatform) -> FakePlatform:
    """The channel service re-runs a busy turn 3 times in all, 10 ms apart."""
    from server.channels.service import BusyRetry

    service = client.app.dependency_overrides[get_channels]()
    service.busy = BusyRetry(attempts=3, max_wait=0.01)
    return platform


def test_a_busy_turn_is_re_run_and_answered_without_a_redelivery(
    client: TestClient, demo_services, quick_busy_platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token="busy-once")
    runtime = client.app.state.chat.services.runtimes.get("demo")
    original = runtime.answer
    user = int(uuid.uuid4().int % 10**9)
    try:
        refused = busy_for(runtime, 2)
        body = update(user, 700004, "How long does shipping take?")
        assert client.post(path, json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "busy-once"}).status_code == 200
    finally:
        runtime.answer = original
    customer, reply = stored(demo_services, "telegram", str(user))
    assert len(refused) == 2 and customer.status == "answered" and reply.reply_to == customer.id
    assert customer.trace["refused"]["outcome"] == "busy" and customer.trace.get("channel")
    assert "business days" in reply.text and len(quick_busy_platform.requests) == 1


def test_a_turn_busy_through_every_retry_keeps_its_outcome_and_a_redelivery_answers_it(
    client: TestClient, demo_services, quick_busy_platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token="busy-tok")
    user = int(uuid.uuid4().int % 10**9)
    body = update(user, 700003, "How long does shipping take?")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "busy-tok"}
    runtime = client.app.state.chat.services.runtimes.get("demo")
    original = runtime.answer
    try:
        refused_turns = busy_for(runtime, 100)
        assert client.post(path, json=body, headers=headers).status_code == 200
    finally:
        runtime.answer = original
    [refused] = stored(demo_services, "telegram", str(user))
    assert len(refused_turns) == 3 and not quick_busy_platform.requests
    assert refused.status == "failed" and refused.trace["outcome"] == "busy"
    assert refused.trace.get("channel"), refused.trace  # the busy outcome kept the channel address

    assert client.post(path, json=body, headers=headers).status_code == 200  # the platform redelivers it
    customer, reply = stored(demo_services, "telegram", str(user))
    assert customer.id == refused.id and customer.status == "answered" and reply.reply_to == customer.id
    assert "business days" in reply.text and len(quick_busy_platform.requests) == 1

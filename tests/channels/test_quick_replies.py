"""Quick replies on channels: numbered options, answers by number or title, multi-part sends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import BackgroundTasks
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine, select

from server.channels import buttons as qr
from server.channels.base import InboundMessage, WebhookRequest, outbound_for
from server.channels.delivery import SendError, parts_sent, progress_note
from server.channels.service import ChannelService, DbDeliveries, chosen_payload
from server.tables import ChannelDelivery, Conversation, Message
from tests.channels.helpers import FAST, FakePlatform, make, reply_to

BUTTONS = [
    {"title": "Track my order", "payload": "where is my order"},
    {"title": "Talk to a person", "payload": "I'd like to talk to a person"},
]
TELEGRAM = {"bot_token": "123:ABC", "secret_token": "s3cret"}
WECHAT = {"token": "t", "appid": "wx1", "appsecret": "sec"}


def telegram_message() -> InboundMessage:
    return InboundMessage("demo", "telegram", "42", "1", "hi", address={"chat_id": 42})


def test_answers_pick_buttons_by_number_or_title() -> None:
    assert qr.resolve_choice("1", BUTTONS) == "where is my order"
    for answer in ("2", " 2. ", "#2", "２", "2）", "talk to a PERSON"):
        assert qr.resolve_choice(answer, BUTTONS) == "I'd like to talk to a person", answer
    for answer in ("3", "0", "12", "1 please", "where", ""):
        assert qr.resolve_choice(answer, BUTTONS) is None, answer
    assert qr.resolve_choice("1", []) is None


def test_stored_buttons_are_cleaned_and_labels_fitted() -> None:
    raw = [{"title": " Yes ", "payload": "yes please"}, "No", {"title": ""}, {"payload": "x"}, 7, {"title": "Hi"}]
    assert qr.clean(raw) == [
        {"title": "Yes", "payload": "yes please"},
        {"title": "No", "payload": "No"},
        {"title": "Hi", "payload": "Hi"},
    ]
    assert qr.clean(None) == [] and qr.clean({"title": "x"}) == []
    assert qr.fit("Talk to a customer service agent", 20) == "Talk to a customer…"
    assert qr.fit("Short", 20) == "Short"
    assert qr.ids(BUTTONS, 256) == ["where is my order", "I'd like to talk to a person"]
    assert qr.ids(BUTTONS, 20) == ["1", "2"]  # a payload too long for the platform's id
    assert qr.ids([BUTTONS[0], BUTTONS[0]], 256) == ["1", "2"]  # ids must be distinct


def test_numbered_lines_follow_the_reply_language() -> None:
    assert qr.numbered_lines(BUTTONS, "How can I help?") == (
        "Reply 1 for Track my order\nReply 2 for Talk to a person"
    )
    assert qr.numbered_lines([{"title": "查询订单", "payload": "订单状态"}], "请问需要什么帮助？") == "回复 1：查询订单"


def test_outbound_for_takes_the_buttons_from_the_stored_trace() -> None:
    stored = SimpleNamespace(
        id="msg_1", text="Pick one", citations=None, trace={"quick_replies": BUTTONS + [{"bad": 1}]}
    )
    outbound = outbound_for(stored, telegram_message(), prefix="🎤 “hi”\n\n")
    assert outbound.quick_replies == BUTTONS and outbound.text == "🎤 “hi”\n\nPick one"
    assert outbound_for(SimpleNamespace(id="m", text="x", citations=[], trace=None), None).quick_replies == []


def test_platforms_without_buttons_get_numbered_lines_after_the_sources() -> None:
    channel = make("wechat", WECHAT)
    citations = [{"n": 1, "document": "Shipping", "section": "", "url": ""}]
    [text] = channel.format(reply_to(telegram_message(), "Hello!", citations=citations, quick_replies=BUTTONS))
    assert text == "Hello!\n\nSources:\n1. Shipping\n\nReply 1 for Track my order\nReply 2 for Talk to a person"


def test_a_failed_part_is_not_sent_again_when_the_reply_is_retried() -> None:
    long_text = "\n\n".join(f"Paragraph {i}. " + "word " * 700 for i in range(3))  # ~3 × 3.5k chars
    platform = FakePlatform(
        httpx.Response(200, json={"ok": True}),  # part 1
        httpx.Response(400, json={"ok": False, "description": "Bad Request"}),  # part 2 refused
        default={"ok": True},
    )
    channel = make("telegram", TELEGRAM, platform)
    reply = reply_to(telegram_message(), long_text, reply_id="r-long", quick_replies=BUTTONS)
    parts = channel.format(reply)
    assert len(parts) == 3
    with pytest.raises(SendError):
        asyncio.run(channel.send(reply))
    assert channel.deliveries.sent_parts("r-long") == 1
    assert asyncio.run(channel.send(reply))  # the redelivery resumes at part 2
    texts = [b["text"] for b in platform.bodies()]
    assert texts == [parts[0], parts[1], parts[1], parts[2]]
    assert [("reply_markup" in b) for b in platform.bodies()] == [False, False, False, True]
    assert not asyncio.run(channel.send(reply))  # all sent: never again


def test_progress_is_written_into_the_failure_reason_and_read_back() -> None:
    assert progress_note(0, 3, "SendError: x") == "SendError: x"
    assert progress_note(2, 3, "SendError: x") == "sent 2 of 3 parts; SendError: x"
    assert parts_sent("sent 2 of 3 parts; SendError: x") == 2
    assert parts_sent("SendError: sent 9 of 9 parts; ") == 0 and parts_sent(None) == 0


@pytest.fixture()
def engine() -> Iterator[Engine]:
    """An in-memory database with every table."""
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def conversation_with(engine: Engine, *messages: Message) -> str:
    with Session(engine) as session:
        conversation = Conversation(bot_id="b1", channel="wechat", external_user_id="o1")
        session.add(conversation)
        session.commit()
        for message in messages:
            message.conversation_id = conversation.id
            session.add(message)
            session.commit()
        return conversation.id


def test_an_answer_by_number_maps_to_the_last_bot_replys_button(engine: Engine) -> None:
    older = Message(role="bot", text="Old", trace={"quick_replies": [{"title": "Old", "payload": "old"}]})
    last = Message(role="bot", text="Pick one", trace={"quick_replies": BUTTONS})
    conversation_id = conversation_with(engine, older, Message(role="customer", text="hm"), last)
    with Session(engine) as session:
        assert chosen_payload(session, conversation_id, "2") == "I'd like to talk to a person"
        assert chosen_payload(session, conversation_id, "Track my order") == "where is my order"
        assert chosen_payload(session, conversation_id, "old") is None  # not the last reply's button
        assert chosen_payload(session, conversation_id, "what about returns?") is None
    plain = conversation_with(engine, Message(role="bot", text="Hello", trace={}))
    with Session(engine) as session:
        assert chosen_payload(session, plain, "1") is None
        assert chosen_payload(session, "no-such-conversation", "1") is None


def test_database_deliveries_remember_the_parts_sent(engine: Engine) -> None:
    deliveries = DbDeliveries(engine)
    with Session(engine) as session:
        session.add(Message(id="r1", conversation_id="c", role="bot", text="x"))
        session.commit()
    assert deliveries.claim("r1", "ch1") and deliveries.sent_parts("r1") == 0
    deliveries.finish("r1", False, progress_note(2, 4, "SendError: HTTP 500"))
    assert deliveries.claim("r1", "ch1") and deliveries.sent_parts("r1") == 2
    deliveries.finish("r1", True)
    assert not deliveries.claim("r1", "ch1")
    with Session(engine) as session:
        row = session.exec(select(ChannelDelivery).where(ChannelDelivery.message_id == "r1")).one()
        assert (row.status, row.attempts) == ("sent", 2)


def test_wechat_passive_answer_carries_part_one_and_the_api_sends_the_rest(engine: Engine) -> None:
    platform = FakePlatform(
        httpx.Response(200, json={"access_token": "AT", "expires_in": 7200}),
        default={"errcode": 0, "errmsg": "ok"},
    )
    chat = SimpleNamespace(services=SimpleNamespace(engine=engine))
    service = ChannelService(chat, http=platform.client(), retry=FAST)  # type: ignore[arg-type]
    channel = make("wechat", WECHAT, platform)
    channel.deliveries, channel.channel_id = service.deliveries, "ch1"
    long_text = "退货政策：收到商品后三十天内可以申请退货。" * 80  # ~5 KB: three messages
    reply = Message(id="r-wx", conversation_id="c", role="bot", text=long_text, trace={"quick_replies": BUTTONS})
    with Session(engine, expire_on_commit=False) as session:
        session.add(reply)
        session.commit()

    async def turn(*args: object) -> Message:
        return reply

    service.turn = turn  # type: ignore[method-assign]
    message = InboundMessage("demo", "wechat", "o1", "m1", "退货?", address={"openid": "o1", "account": "gh"})
    background = BackgroundTasks()
    request = WebhookRequest("POST", {}, {}, b"")

    async def run() -> str:
        answer = await service._passive(SimpleNamespace(), channel, request, (None, message), background)  # type: ignore[arg-type]
        await background()
        return answer.body

    passive = asyncio.run(run())
    parts = channel.format(outbound_for(reply, message))
    assert len(parts) == 3 and parts[-1].endswith("回复 2：Talk to a person")
    assert f"<Content><![CDATA[{parts[0]}]]></Content>" in passive
    assert [b["text"]["content"] for b in platform.bodies()] == parts[1:]
    with Session(engine) as session:
        row = session.exec(select(ChannelDelivery).where(ChannelDelivery.message_id == "r-wx")).one()
        assert row.status == "sent"

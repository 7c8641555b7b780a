"""Satisfaction on messaging channels through the real webhooks: the survey after an agent resolves,
1-5 answers, 👍/👎 on Telegram, and the metrics they feed (server/channels/survey.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from bot import handoff
from server import store
from server.api.channels import get_channels
from server.channels import survey as channel_survey
from server.channels.base import hmac_hex
from server.channels.service import ChannelService
from server.metrics import queries
from server.metrics.report import make_scope
from server.seed import create_bot
from server.tables import Bot, Conversation, Feedback, Message
from tests.channels.helpers import FAST, FakePlatform
from tests.channels.test_webhooks import channel, update, wechat_post
from tests.conftest import SessionAuth, console_auth

pytestmark = pytest.mark.slow  # the demo deployment loads the packaged models once per session

SECRET = "csat-token"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
QUESTION = "How long does shipping take?"


@pytest.fixture()
def platform(client: TestClient) -> Iterator[FakePlatform]:
    """Every platform's send API, faked (as in test_webhooks.py); webhooks and resolve both use it."""
    fake = FakePlatform(default={"ok": True, "result": {}, "errcode": 0})
    service = ChannelService(client.app.state.chat, http=fake.client(), retry=FAST)
    client.app.dependency_overrides[get_channels] = lambda: service
    yield fake
    client.app.dependency_overrides.clear()


@pytest.fixture()
def auth(demo_services) -> SessionAuth:  # type: ignore[no-untyped-def]
    return console_auth(demo_services, demo_services.seeded.admin_email)


def set_widget(demo_services, slug: str = "demo", replace: bool = False, **values: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Change (or with replace, set) the bot's stored widget settings; returns what was there before."""
    with Session(demo_services.engine) as session:
        bot = session.exec(select(Bot).where(Bot.slug == slug)).one()
        before = dict(bot.widget or {})
        bot.widget = values if replace else {**before, **values}
        session.add(bot)
        session.commit()
    return before


@pytest.fixture()
def surveys(demo_services) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The demo bot asks channel customers for a rating when an agent resolves (restored after)."""
    before = set_widget(demo_services, channel_csat_on_resolve=True)
    yield
    set_widget(demo_services, replace=True, **before)


def conversations(demo_services, kind: str, user: str) -> list[Conversation]:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        query = select(Conversation).where(Conversation.channel == kind, Conversation.external_user_id == user)
        return list(session.exec(query.order_by(col(Conversation.created_at))).all())


def messages(demo_services, conversation_id: str) -> list[Message]:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        query = select(Message).where(Message.conversation_id == conversation_id)
        return list(session.exec(query.order_by(col(Message.created_at))).all())


def feedback(demo_services, conversation_id: str) -> list[Feedback]:  # type: ignore[no-untyped-def]
    with Session(demo_services.engine) as session:
        return list(session.exec(select(Feedback).where(Feedback.conversation_id == conversation_id)).all())


def hand_over(demo_services, conversation_id: str) -> None:  # type: ignore[no-untyped-def]
    """The customer asked for a person: the conversation waits in the inbox."""
    with Session(demo_services.engine) as session:
        store.transition(session, conversation_id, handoff.HANDOFF)


def telegram_chat(client: TestClient, demo_services, text: str = QUESTION) -> tuple[str, int, str]:  # type: ignore[no-untyped-def]
    """A Telegram channel and a customer who asked something and was handed to the inbox."""
    path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token=SECRET)
    user = int(uuid.uuid4().int % 10**9)
    assert client.post(path, json=update(user, 800001, text), headers=HEADERS).status_code == 200
    [conversation] = conversations(demo_services, "telegram", str(user))
    hand_over(demo_services, conversation.id)
    return path, user, conversation.id


def test_resolving_a_telegram_conversation_sends_the_survey_and_5_thanks_is_a_rating(
    client: TestClient, demo_services, platform: FakePlatform, surveys: None, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    path, user, conversation_id = telegram_chat(client, demo_services)
    platform.requests.clear()
    resolved = client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    [send] = platform.requests
    assert str(send.url) == "https://api.telegram.org/bot42:TOKEN/sendMessage"
    survey = json.loads(send.content)
    assert survey["chat_id"] == user and survey["text"].startswith("How would you rate this conversation? Reply 1–5")
    keyboard = survey["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["1", "2", "3", "4", "5"]
    assert keyboard[4][0]["text"] == "5 – Excellent" and len(keyboard) == 5  # no 👍/👎 row under a survey

    platform.requests.clear()
    answer = client.post(path, json=update(user, 800002, "5 thanks"), headers=HEADERS)
    assert answer.status_code == 200
    [rating] = feedback(demo_services, conversation_id)
    assert (rating.kind, rating.score, rating.comment, rating.message_id) == ("csat", 5, "thanks", None)
    [thanks] = [json.loads(r.content) for r in platform.requests]
    assert thanks == {"chat_id": user, "text": "Thanks for your rating!"}  # no bot answer, no buttons
    [conversation] = conversations(demo_services, "telegram", str(user))  # no new conversation
    assert conversation.status == "resolved"
    roles = [(m.role, m.text, m.status) for m in messages(demo_services, conversation_id)][-3:]
    assert roles == [
        ("bot", survey["text"], "sent"),
        ("customer", "5 thanks", "answered"),  # persisted as always
        ("bot", "Thanks for your rating!", "sent"),
    ]

    client.post(path, json=update(user, 800002, "5 thanks"), headers=HEADERS)  # a redelivery
    assert len(platform.requests) == 1 and len(feedback(demo_services, conversation_id)) == 1

    press = {  # a second answer, with the survey's button: it replaces the first
        "update_id": 800003,
        "callback_query": {
            "id": "cbq-800003",
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "message": {"message_id": 9, "date": int(time.time()), "chat": {"id": user, "type": "private"}},
            "data": "3",
        },
    }
    assert client.post(path, json=press, headers=HEADERS).json()["method"] == "answerCallbackQuery"
    [rating] = feedback(demo_services, conversation_id)
    assert (rating.score, rating.comment) == (3, None)

    platform.requests.clear()
    client.post(path, json=update(user, 800004, QUESTION), headers=HEADERS)  # anything else: the bot
    first, second = conversations(demo_services, "telegram", str(user))
    assert first.id == conversation_id and second.status == "bot"
    customer, reply = messages(demo_services, second.id)
    assert customer.text == QUESTION and reply.role == "bot" and "business days" in reply.text
    assert json.loads(platform.requests[0].content)["text"].startswith(reply.text)
    assert [f.score for f in feedback(demo_services, conversation_id)] == [3] and feedback(
        demo_services, second.id
    ) == []

    client.post(path, json=update(user, 800005, "4"), headers=HEADERS)  # the survey is over: "4" is for the bot
    assert [f.score for f in feedback(demo_services, conversation_id)] == [3]
    assert [m.text for m in messages(demo_services, second.id) if m.role == "customer"] == [QUESTION, "4"]


def test_an_answer_that_is_not_a_rating_clears_the_survey(
    client: TestClient, demo_services, platform: FakePlatform, surveys: None, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    path, user, conversation_id = telegram_chat(client, demo_services)
    client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth)
    client.post(path, json=update(user, 800011, QUESTION), headers=HEADERS)
    client.post(path, json=update(user, 800012, "5"), headers=HEADERS)
    assert feedback(demo_services, conversation_id) == []
    first, second = conversations(demo_services, "telegram", str(user))
    assert [m.text for m in messages(demo_services, second.id) if m.role == "customer"] == [QUESTION, "5"]


ANSWERS = [  # (what the customer writes after the survey, the rating it is, or None: a message for the bot)
    ("4 - too slow", (4, "too slow")),
    ("4, great", (4, "great")),
    ("4/5", (4, None)),
    ("4 stars", (4, None)),
    ("３分 还可以", (3, "还可以")),
    ("5 great support", (5, "great support")),
    ("3 items are missing", None),
    ("2 orders", None),
    ("1 more question", None),
    ("5个包裹没到", None),
    ("3天了还没收到", None),
]


@pytest.mark.parametrize(("text", "rating"), ANSWERS, ids=[t for t, _ in ANSWERS])
def test_what_is_an_answer_to_the_survey_through_the_webhook(
    client: TestClient,
    demo_services,
    platform: FakePlatform,
    surveys: None,
    auth: SessionAuth,
    text: str,
    rating: tuple[int, str | None] | None,
) -> None:  # type: ignore[no-untyped-def]
    path, user, conversation_id = telegram_chat(client, demo_services)
    assert client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth).status_code == 200
    platform.requests.clear()
    assert client.post(path, json=update(user, 800051, text), headers=HEADERS).status_code == 200
    sent = [json.loads(r.content).get("text", "") for r in platform.requests if r.content]
    if rating is not None:
        [given] = feedback(demo_services, conversation_id)
        assert (given.kind, given.score, given.comment) == ("csat", *rating)
        assert sent == ["Thanks for your rating!"] and len(conversations(demo_services, "telegram", str(user))) == 1
        return
    assert feedback(demo_services, conversation_id) == []  # a question for the bot, not a rating
    first, second = conversations(demo_services, "telegram", str(user))
    customer, reply = messages(demo_services, second.id)
    assert (customer.text, reply.role, reply.reply_to) == (text, "bot", customer.id)
    assert "Thanks for your rating!" not in sent and "感谢您的评分！" not in sent
    with Session(demo_services.engine) as session:  # the survey is over: a later "5" goes to the bot too
        assert channel_survey.pending(session, first.bot_id, "telegram", str(user)) is None


def test_a_survey_the_platform_refused_awaits_no_answer(
    client: TestClient, demo_services, platform: FakePlatform, surveys: None, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    path, user, conversation_id = telegram_chat(client, demo_services)
    platform.script = [httpx.Response(403, json={"ok": False, "description": "Forbidden: bot was blocked by the user"})]
    assert client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth).status_code == 200
    asked = messages(demo_services, conversation_id)[-1]
    assert asked.trace["survey"]["state"] == "unsent" and "403" in asked.trace["survey"]["error"]
    client.post(path, json=update(user, 800041, "5"), headers=HEADERS)  # they never saw the question
    assert feedback(demo_services, conversation_id) == []
    assert len(conversations(demo_services, "telegram", str(user))) == 2


def test_no_survey_when_the_setting_is_off(
    client: TestClient, demo_services, platform: FakePlatform, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    path, user, conversation_id = telegram_chat(client, demo_services)
    platform.requests.clear()
    assert client.post(f"/api/v1/conversations/{conversation_id}/resolve", auth=auth).status_code == 200
    assert platform.requests == []
    client.post(path, json=update(user, 800021, "5"), headers=HEADERS)  # just a message for the bot
    assert feedback(demo_services, conversation_id) == []
    assert len(conversations(demo_services, "telegram", str(user))) == 2


def test_telegram_thumbs_under_replies_and_a_press_is_feedback_on_that_reply(
    client: TestClient, demo_services, platform: FakePlatform
) -> None:  # type: ignore[no-untyped-def]
    before = set_widget(demo_services, channel_thumbs=True)
    try:
        path = channel(demo_services, "telegram", bot_token="42:TOKEN", secret_token=SECRET)
        user = int(uuid.uuid4().int % 10**9)
        client.post(path, json=update(user, 800031, QUESTION), headers=HEADERS)
    finally:
        set_widget(demo_services, replace=True, **before)
    [conversation] = conversations(demo_services, "telegram", str(user))
    customer, reply = messages(demo_services, conversation.id)
    markup = json.loads(platform.requests[-1].content)["reply_markup"]
    assert markup == {
        "inline_keyboard": [
            [
                {"text": "👍", "callback_data": f"thumb:1:{reply.id}"},
                {"text": "👎", "callback_data": f"thumb:-1:{reply.id}"},
            ]
        ]
    }
    assert len(f"thumb:-1:{reply.id}".encode()) <= 64  # Telegram's callback_data limit
    press = {
        "update_id": 800032,
        "callback_query": {
            "id": "cbq-800032",
            "from": {"id": user, "is_bot": False, "first_name": "Ada", "language_code": "zh-hans"},
            "message": {"message_id": 7, "date": int(time.time()), "chat": {"id": user, "type": "private"}},
            "data": f"thumb:-1:{reply.id}",
        },
    }
    answer = client.post(path, json=press, headers=HEADERS)
    assert answer.json() == {
        "method": "answerCallbackQuery",
        "callback_query_id": "cbq-800032",
        "text": "感谢您的反馈！",
    }
    [thumb] = feedback(demo_services, conversation.id)
    assert (thumb.kind, thumb.score, thumb.message_id) == ("thumb", -1, reply.id)
    press["update_id"], press["callback_query"]["data"] = 800033, f"thumb:1:{reply.id}"  # changed their mind
    client.post(path, json=press, headers=HEADERS)
    assert [(f.kind, f.score) for f in feedback(demo_services, conversation.id)] == [("thumb", 1)]
    assert len(messages(demo_services, conversation.id)) == 2  # a press is not a customer message

    stranger = {**press, "update_id": 800034}
    stranger["callback_query"] = {
        **press["callback_query"],
        "from": {"id": user + 1, "is_bot": False},
        "data": f"thumb:-1:{reply.id}",
    }
    client.post(path, json=stranger, headers=HEADERS)  # someone else's reply: ignored
    assert [f.score for f in feedback(demo_services, conversation.id)] == [1]


def meta_post(client: TestClient, path: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac_hex(b"app-secret", raw)
    answer = client.post(
        path, content=raw, headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text


def whatsapp(phone: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PHONE1"},
                            "messages": [{"from": phone, "timestamp": str(int(time.time())), **message}],
                        },
                    }
                ],
            }
        ],
    }


def test_whatsapp_survey_in_chinese_is_a_list_and_a_chosen_row_is_the_rating(
    client: TestClient, demo_services, platform: FakePlatform, surveys: None, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "meta", app_secret="app-secret", verify_token="vt", access_token="EAAB")
    phone = str(8_600_000_0000 + uuid.uuid4().int % 10**9)
    meta_post(client, path, whatsapp(phone, {"id": "wamid.1", "type": "text", "text": {"body": "运费多少钱？"}}))
    [conversation] = conversations(demo_services, "meta", f"wa:{phone}")
    hand_over(demo_services, conversation.id)
    platform.requests.clear()
    client.post(f"/api/v1/conversations/{conversation.id}/resolve", auth=auth)
    [send] = platform.requests
    assert str(send.url) == "https://graph.facebook.com/v21.0/PHONE1/messages"
    sent = json.loads(send.content)
    interactive = sent["interactive"]
    assert sent["to"] == phone and interactive["type"] == "list"  # 5 choices: WhatsApp reply buttons hold 3
    assert interactive["body"]["text"].startswith("您对本次服务满意吗？请回复 1–5 评分")
    assert interactive["action"]["button"] == "评分"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows][::4] == [("1", "1 非常不满意"), ("5", "5 非常满意")]

    platform.requests.clear()
    chosen = {
        "id": "wamid.2",
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": "4", "title": "4 满意"}},
    }
    meta_post(client, path, whatsapp(phone, chosen))
    [rating] = feedback(demo_services, conversation.id)
    assert (rating.score, rating.comment) == (4, None)
    [thanks] = [json.loads(r.content) for r in platform.requests]
    assert thanks["text"]["body"] == "感谢您的评分！"
    meta_post(client, path, whatsapp(phone, {"id": "wamid.3", "type": "text", "text": {"body": "５分 态度很好"}}))
    [rating] = feedback(demo_services, conversation.id)
    assert (rating.score, rating.comment) == (5, "态度很好")


def test_wechat_survey_asks_for_a_number_in_the_text_and_4分_is_a_rating(
    client: TestClient, demo_services, platform: FakePlatform, surveys: None, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    path = channel(demo_services, "wechat", token="wxtoken", appid="wxappid", appsecret="sec", passive_seconds="60")
    platform.default = {"errcode": 0, "access_token": "AT", "expires_in": 7200}
    openid = f"o{uuid.uuid4().hex[:10]}"
    wechat_post(client, path, openid, "920001", "运费多少钱？")
    [conversation] = conversations(demo_services, "wechat", openid)
    hand_over(demo_services, conversation.id)
    platform.requests.clear()
    client.post(f"/api/v1/conversations/{conversation.id}/resolve", auth=auth)
    sent = [json.loads(r.content) for r in platform.requests if r.content]
    [survey] = [b for b in sent if "touser" in b]
    assert survey["touser"] == openid and survey["text"]["content"].startswith("您对本次服务满意吗？")
    assert "回复 1：" not in survey["text"]["content"]  # the question says it already: no numbered lines
    answer = wechat_post(client, path, openid, "920002", "4分")
    assert answer.text == "success"
    [rating] = feedback(demo_services, conversation.id)
    assert (rating.score, rating.comment) == (4, None)
    assert any(
        json.loads(r.content).get("text", {}).get("content") == "感谢您的评分！" for r in platform.requests if r.content
    )


def test_a_channel_rating_counts_in_the_metrics_page_figures(
    client: TestClient, demo_services, platform: FakePlatform, auth: SessionAuth
) -> None:  # type: ignore[no-untyped-def]
    slug = f"csat-{uuid.uuid4().hex[:8]}"
    with Session(demo_services.engine) as session:
        demo = session.exec(select(Bot).where(Bot.slug == "demo")).one()
        bot = create_bot(session, demo.tenant_id, slug, "CSAT metrics")
        bot.widget = {"channel_csat_on_resolve": True}
        session.add(bot)
        session.commit()
        bot_id = bot.id
    info_path = channel_for(demo_services, slug)
    users = [int(uuid.uuid4().int % 10**9) for _ in range(2)]
    for n, user in enumerate(users):
        client.post(info_path, json=update(user, 810000 + n, "hello"), headers=HEADERS)
        [conversation] = conversations(demo_services, "telegram", str(user))
        hand_over(demo_services, conversation.id)
        client.post(f"/api/v1/conversations/{conversation.id}/resolve", auth=auth)
    client.post(info_path, json=update(users[0], 810010, "4 quick and kind"), headers=HEADERS)
    with Session(demo_services.engine) as session:
        figures = queries.compute(session, make_scope(bot_id, None, None, "telegram"))
        live = queries.compute(session, make_scope(bot_id, None, None, "telegram"), use_rollup=False)
    assert figures.conversations == 2 and figures.csat_average == 4.0 and figures.csat_responses == 1
    assert figures.csat_response_rate == 0.5 and live.csat_average == 4.0 and live.csat_responses == 1


def channel_for(demo_services, slug: str) -> str:  # type: ignore[no-untyped-def]
    from server.channels.configs import add_channel

    info, _ = add_channel(
        demo_services.engine,
        demo_services.secrets,
        slug,
        "telegram",
        "tg",
        {"bot_token": "42:TOKEN", "secret_token": SECRET},
    )
    return info.path

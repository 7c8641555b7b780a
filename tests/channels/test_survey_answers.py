"""What counts as an answer to the channel survey, and which language it is asked in (no server)."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.channels.base import InboundMessage, OutboundReply
from server.channels.survey import (
    TEXTS,
    Rating,
    language,
    outbound,
    parse_rating,
    parse_thumb,
    scale_buttons,
    thumb_data,
)
from server.tables import Message
from tests.channels.helpers import FakePlatform, make


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("4", Rating(4, None)),
        ("4 great support", Rating(4, "great support")),
        ("５", Rating(5, None)),  # full-width
        ("4分", Rating(4, None)),
        ("4分 很好", Rating(4, "很好")),
        ("3/5", Rating(3, None)),
        ("5 stars!", Rating(5, None)),
        ("2 - too slow", Rating(2, "too slow")),
        ("1, never again", Rating(1, "never again")),
        ("csat:3", Rating(3, None)),
        (" 5. ", Rating(5, None)),
        ("5 – Excellent", Rating(5, None)),  # a reply keyboard sends the button's title
        ("4 满意", Rating(4, None)),
        ("4 stars great", Rating(4, "great")),
        ("4 out of 5", Rating(4, None)),
        ("4, great", Rating(4, "great")),
        ("4 quick and kind", Rating(4, "quick and kind")),
        ("5 thanks", Rating(5, "thanks")),
        ("3 was slow", Rating(3, "was slow")),
        ("5 the agents were great", Rating(5, "the agents were great")),  # "the": a comment, not a count
        ("2 Poor", Rating(2, None)),
        ("4。很好", Rating(4, "很好")),
        ("5很满意", Rating(5, "很满意")),
        ("１分，太差了", Rating(1, "太差了")),
        ("3 还可以吧", Rating(3, "还可以吧")),
        ("5⭐", Rating(5, None)),
        ("5 👍", Rating(5, "👍")),
        ("3 (slow)", Rating(3, "(slow)")),
    ],
)
def test_ratings(text: str, rating: Rating) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", ["0", "6", "10", "45", "4.5", "4,5", "hello", "where is my order 4", "", "五"])
def test_not_ratings(text: str) -> None:
    assert parse_rating(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "3 items are missing",
        "2 orders",
        "1 more question",
        "1 order is missing",
        "2 broken items",
        "3 days and still nothing",
        "1 question about refunds",
        "3 x shirts",
        "2-3 days",
        "4 am",
        "4pm",
        "1st",
        "3/4",
        "3%",
        "2 3",
        "5个包裹没到",
        "5 个包裹",
        "3天了还没到",
        "2号发货吗",
        "5分钟后再说",
        "5星级酒店",
        "1件都没收到",
    ],
)
def test_a_number_that_counts_something_is_not_a_rating(text: str) -> None:
    assert parse_rating(text) is None


def test_a_long_comment_is_cut_to_what_the_widget_accepts() -> None:
    rating = parse_rating("5 " + "x" * 5000)
    assert rating is not None and rating.comment == "x" * 1000


def test_thumb_callback_data_round_trips_within_telegram_limits() -> None:
    data = thumb_data(-1, "msg_" + "f" * 32)
    assert parse_thumb(data) == (-1, "msg_" + "f" * 32) and len(data.encode()) <= 64
    assert parse_thumb("thumb:2:msg_1") is None and parse_thumb("4") is None


def test_language_follows_the_customer() -> None:
    assert language(None, "运费多少？") == "zh" and language("zh-hans") == "zh"
    assert language("en", "hello") == "en" and language(None, "") == "en"
    assert language("en", "我要退货") == "zh"  # what they write wins over the app's locale
    assert [b["payload"] for b in scale_buttons("zh")] == ["1", "2", "3", "4", "5"]


# --- what the survey looks like on each platform (server/channels/survey.py `outbound`) ---


def sent_survey(kind: str, config: dict[str, str], address: dict[str, object], lang: str = "en") -> list[dict]:
    """The JSON bodies a channel posts for a stored survey message, on a fake platform."""
    platform = FakePlatform(default={"ok": True, "errcode": 0, "access_token": "AT", "expires_in": 7200})
    channel = make(kind, config, platform)
    channel.thumbs = True  # never under a survey
    asked = Message(
        id="msg_survey",
        conversation_id="c_1",
        role="bot",
        text=TEXTS[lang]["ask"],
        trace={"survey": {"kind": "csat", "state": "pending", "lang": lang}, "quick_replies": scale_buttons(lang)},
    )
    to = InboundMessage("demo", kind, "u1", "", "", address=address, received_at=0.0)
    assert asyncio.run(channel.send(outbound(channel, asked, to)))
    return [
        json.loads(r.content)
        for r in platform.requests
        if r.content and r.url.path.endswith(("send", "push", "messages", "sendMessage", "chat.postMessage"))
    ]


def test_the_survey_on_each_platform() -> None:
    [telegram] = sent_survey("telegram", {"bot_token": "1:A", "secret_token": "s"}, {"chat_id": 7})
    rows = telegram["reply_markup"]["inline_keyboard"]
    assert [r[0]["callback_data"] for r in rows] == ["1", "2", "3", "4", "5"] and len(rows) == 5

    [line] = sent_survey("line", {"channel_secret": "s", "channel_access_token": "t"}, {"reply_token": "r", "to": "U1"})
    items = line["messages"][-1]["quickReply"]["items"]
    assert line["to"] == "U1" and [i["action"]["text"] for i in items] == ["1", "2", "3", "4", "5"]
    assert items[4]["action"]["label"] == "5 – Excellent"

    meta = {"app_secret": "a", "verify_token": "v", "access_token": "t"}
    [messenger] = sent_survey("meta", meta, {"product": "messenger", "to": "P1"}, "zh")
    replies = messenger["message"]["quick_replies"]
    assert [q["payload"] for q in replies] == ["1", "2", "3", "4", "5"] and replies[0]["title"] == "1 非常不满意"
    [whatsapp] = sent_survey("meta", meta, {"product": "whatsapp", "phone_number_id": "N1", "to": "861"})
    assert whatsapp["interactive"]["type"] == "list" and whatsapp["interactive"]["action"]["button"] == "Rate"

    [slack] = sent_survey("slack", {"signing_secret": "s", "bot_token": "xoxb"}, {"channel": "C1", "thread_ts": "1.2"})
    assert [e["value"] for e in slack["blocks"][1]["elements"]] == ["1", "2", "3", "4", "5"]

    [wechat] = sent_survey("wechat", {"token": "t", "appid": "a", "appsecret": "s"}, {"openid": "o1"}, "zh")
    assert wechat["text"]["content"] == TEXTS["zh"]["ask"]  # no numbered lines: the question says it

    [generic] = sent_survey("generic", {"secret": "s", "reply_url": "https://app.example/send"}, {"user": "u1"})
    assert [b["payload"] for b in generic["quick_replies"]] == ["1", "2", "3", "4", "5"]


def test_telegram_thumbs_follow_the_replys_own_buttons_and_skip_reply_keyboards() -> None:
    platform = FakePlatform()
    channel = make("telegram", {"bot_token": "1:A", "secret_token": "s"}, platform)
    to = InboundMessage("demo", "telegram", "7", "1", "hi", address={"chat_id": 7})
    short = [{"title": "Track", "payload": "track"}]
    long = [{"title": "Track", "payload": "x" * 65}]  # over 64 bytes: a reply keyboard
    channel.thumbs = True
    for reply_id, buttons in (("msg_a", short), ("msg_b", long)):
        asyncio.run(channel.send(OutboundReply(reply_id, to, "Here you go", [], buttons)))
    channel.thumbs = False
    asyncio.run(channel.send(OutboundReply("msg_c", to, "Off", [], [])))
    inline, keyboard, off = [json.loads(r.content) for r in platform.requests]
    assert inline["reply_markup"]["inline_keyboard"] == [
        [{"text": "Track", "callback_data": "track"}],
        [{"text": "👍", "callback_data": "thumb:1:msg_a"}, {"text": "👎", "callback_data": "thumb:-1:msg_a"}],
    ]
    assert "inline_keyboard" not in keyboard["reply_markup"] and "reply_markup" not in off

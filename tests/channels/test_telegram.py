"""Telegram: the secret-token header, the documented update shapes, sendMessage, keyboards."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.channels.base import SignatureError
from tests.channels.helpers import FakePlatform, make, post, reply_to

CONFIG = {"bot_token": "123456:ABC-DEF", "secret_token": "my-Secret_42"}
# The text-message update from Telegram's webhook examples.
UPDATE = {
    "update_id": 10000,
    "message": {
        "date": 1441645532,
        "chat": {
            "last_name": "Test Lastname",
            "id": 1111111,
            "type": "private",
            "first_name": "Test Firstname",
            "username": "Testusername",
        },
        "message_id": 1365,
        "from": {
            "last_name": "Test Lastname",
            "id": 1111111,
            "first_name": "Test Firstname",
            "username": "Testusername",
            "language_code": "en",
        },
        "text": "How long does shipping take?",
    },
}
HEADER = {"X-Telegram-Bot-Api-Secret-Token": "my-Secret_42"}


def test_secret_token_accepted_and_rejected() -> None:
    channel = make("telegram", CONFIG)
    channel.verify(post(UPDATE, HEADER))
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        with pytest.raises(SignatureError) as err:
            channel.verify(post(UPDATE, headers))
        assert err.value.status == 403


def test_text_message_is_parsed() -> None:
    [message] = make("telegram", CONFIG).parse(post(UPDATE, HEADER))
    assert (message.user_id, message.message_id, message.text, message.locale) == (
        "1111111",
        "10000",
        "How long does shipping take?",
        "en",
    )
    assert message.address == {"chat_id": 1111111}


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "edited_message": UPDATE["message"]},
        {
            "update_id": 2,
            "message": {**UPDATE["message"], "text": None, "photo": [{"file_id": "x"}]},
        },
        {  # a game button: no callback data
            "update_id": 3,
            "callback_query": {"id": "4382bfdwdsb323b2d9", "from": {"id": 1}, "game_short_name": "g"},
        },
        {"update_id": 4, "message": {**UPDATE["message"], "from": {"id": 9, "is_bot": True}}},
    ],
)
def test_non_text_updates_are_ignored(update: dict) -> None:
    assert make("telegram", CONFIG).parse(post(update, HEADER)) == []


def test_send_message_request() -> None:
    platform = FakePlatform(default={"ok": True, "result": {"message_id": 1366}})
    channel = make("telegram", CONFIG, platform)
    [message] = channel.parse(post(UPDATE, HEADER))
    asyncio.run(
        channel.send(
            reply_to(
                message,
                "3-5 business days [1].",
                citations=[
                    {
                        "n": 1,
                        "document": "Shipping times",
                        "section": "",
                        "url": "/kb/demo/shipping-times",
                    }
                ],
            )
        )
    )
    [request] = platform.requests
    assert str(request.url) == "https://api.telegram.org/bot123456:ABC-DEF/sendMessage"
    assert platform.bodies() == [
        {"chat_id": 1111111, "text": "3-5 business days [1].\n\nSources:\n1. Shipping times"}
    ]


# "Callback query from callback button" from Telegram's webhook examples (the bot's message with
# the inline keyboard trimmed to what we read).
CALLBACK = {
    "update_id": 10001,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "from": {
            "last_name": "Test Lastname",
            "type": "private",
            "id": 1111111,
            "first_name": "Test Firstname",
            "username": "Testusername",
            "language_code": "en",
        },
        "message": {
            "message_id": 1366,
            "date": 1441645532,
            "chat": {"id": 1111111, "type": "private", "first_name": "Test Firstname"},
            "text": "Pick one",
        },
        "chat_instance": "-1234567890",
        "data": "Data from button callback",
    },
}
BUTTONS = [
    {"title": "Track my order", "payload": "where is my order"},
    {"title": "Talk to a person", "payload": "I'd like to talk to a person"},
]


def test_button_press_is_a_customer_message_answered_with_answer_callback_query() -> None:
    channel = make("telegram", CONFIG)
    request = post(CALLBACK, HEADER)
    [message] = channel.parse(request)
    assert (message.user_id, message.message_id, message.text, message.locale) == (
        "1111111",
        "10001",
        "Data from button callback",
        "en",
    )
    assert message.address == {"chat_id": 1111111, "callback_query_id": "4382bfdwdsb323b2d9"}
    answer = channel.ack(request)
    assert answer.media_type == "application/json"
    assert json.loads(answer.body) == {
        "method": "answerCallbackQuery",
        "callback_query_id": "4382bfdwdsb323b2d9",
    }
    assert channel.ack(post(UPDATE, HEADER)).body == "ok"  # an ordinary message: plain 200
    inline = {**CALLBACK, "callback_query": {**CALLBACK["callback_query"], "message": None}}
    [from_inline] = channel.parse(post(inline, HEADER))  # no message: answer the user directly
    assert from_inline.address["chat_id"] == 1111111


def test_quick_replies_become_an_inline_keyboard_on_the_last_part() -> None:
    platform = FakePlatform(default={"ok": True, "result": {}})
    channel = make("telegram", CONFIG, platform)
    [message] = channel.parse(post(UPDATE, HEADER))
    long_text = ("Shipping takes 3-5 days. " * 200).strip()  # ~5,000 characters: two messages
    asyncio.run(channel.send(reply_to(message, long_text, quick_replies=BUTTONS)))
    first, last = platform.bodies()
    assert "reply_markup" not in first and len(first["text"]) <= 4096
    assert first["text"] + " " + last["text"] == long_text
    assert last["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Track my order", "callback_data": "where is my order"}],
            [{"text": "Talk to a person", "callback_data": "I'd like to talk to a person"}],
        ]
    }


def test_payload_over_64_bytes_falls_back_to_a_reply_keyboard_of_titles() -> None:
    platform = FakePlatform(default={"ok": True, "result": {}})
    channel = make("telegram", CONFIG, platform)
    [message] = channel.parse(post(UPDATE, HEADER))
    buttons = [BUTTONS[0], {"title": "Returns", "payload": "退货政策" * 6}]  # 72 bytes
    asyncio.run(channel.send(reply_to(message, "Pick one", quick_replies=buttons)))
    assert platform.bodies()[0]["reply_markup"] == {
        "keyboard": [[{"text": "Track my order"}], [{"text": "Returns"}]],
        "one_time_keyboard": True,
        "resize_keyboard": True,
    }

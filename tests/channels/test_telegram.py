"""Telegram: the secret-token header, the documented update shape, sendMessage."""

from __future__ import annotations

import asyncio

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
        {
            "update_id": 3,
            "callback_query": {"id": "4382bfdwdsb323b2d9", "data": "Data from button callback"},
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

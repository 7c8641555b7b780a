"""LINE: X-Line-Signature, the documented message event, reply with push as the fallback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import httpx
import pytest

from server.channels.base import SignatureError
from server.channels.delivery import SendError
from tests.channels.helpers import NOW, FakePlatform, make, post, reply_to

CONFIG = {"channel_secret": "line-secret", "channel_access_token": "line-token"}
# A text message event as in the Messaging API reference.
BODY = json.dumps(
    {
        "destination": "xxxxxxxxxx",
        "events": [
            {
                "type": "message",
                "message": {"type": "text", "id": "14353798921116", "text": "Hello, world"},
                "timestamp": 1625665242211,
                "source": {"type": "user", "userId": "U80696558e1aa831"},
                "replyToken": "757913772c4646b784d4b7ce46d12671",
                "mode": "active",
                "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
                "deliveryContext": {"isRedelivery": False},
            },
            {
                "type": "follow",
                "timestamp": 1625665242214,
                "source": {"type": "user", "userId": "U80696558e1aa831"},
                "replyToken": "bb173f4d9cf64aed9d408ab4e36339ad",
                "mode": "active",
                "webhookEventId": "01FZ74ASS536FW97EX38NKCZQK",
                "deliveryContext": {"isRedelivery": False},
            },
        ],
    }
).encode()


def sign(body: bytes, secret: str = "line-secret") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"X-Line-Signature": base64.b64encode(digest).decode()}


def test_signature_accepted_and_rejected() -> None:
    channel = make("line", CONFIG)
    channel.verify(post(BODY, sign(BODY)))
    for body, headers in (
        (BODY, sign(BODY, "wrong")),
        (BODY.replace(b"Hello", b"Howdy"), sign(BODY)),
        (BODY, {}),
    ):
        with pytest.raises(SignatureError):
            channel.verify(post(body, headers))


def test_text_event_parsed_follow_ignored_and_console_check_empty() -> None:
    channel = make("line", CONFIG)
    [message] = channel.parse(post(BODY))
    assert (message.user_id, message.message_id, message.text) == (
        "U80696558e1aa831",
        "14353798921116",
        "Hello, world",
    )
    assert channel.parse(post({"destination": "xxxxxxxxxx", "events": []})) == []


def test_fresh_message_uses_the_reply_api() -> None:
    platform = FakePlatform(default={})
    channel = make("line", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    message.received_at = NOW
    asyncio.run(channel.send(reply_to(message)))
    [request] = platform.requests
    assert str(request.url) == "https://api.line.me/v2/bot/message/reply"
    assert request.headers["authorization"] == "Bearer line-token"
    assert platform.bodies() == [
        {
            "replyToken": "757913772c4646b784d4b7ce46d12671",
            "messages": [{"type": "text", "text": "Hello!"}],
        }
    ]


def test_expired_token_falls_back_to_push_with_a_stable_retry_key() -> None:
    platform = FakePlatform(
        httpx.Response(400, json={"message": "Invalid reply token"}),
        httpx.Response(500),
        default={},
    )
    channel = make("line", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    message.received_at = NOW
    asyncio.run(channel.send(reply_to(message)))
    reply, push1, push2 = platform.requests
    assert str(push1.url) == "https://api.line.me/v2/bot/message/push"
    assert push1.headers["x-line-retry-key"] == push2.headers["x-line-retry-key"]
    assert json.loads(push2.content)["to"] == "U80696558e1aa831"


def test_push_already_accepted_counts_as_sent() -> None:
    platform = FakePlatform(
        httpx.Response(409, json={"message": "The retry key is already accepted"})
    )
    channel = make("line", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    message.received_at = NOW - 3600  # reply token long expired: push directly
    assert asyncio.run(channel.send(reply_to(message)))
    assert [str(r.url) for r in platform.requests] == ["https://api.line.me/v2/bot/message/push"]


BUTTONS = [
    {"title": "Track my order", "payload": "where is my order"},
    {"title": "Talk to a customer service agent", "payload": "I'd like to talk to a person"},
]


def test_quick_replies_ride_on_the_last_message_as_message_actions() -> None:
    platform = FakePlatform(default={})
    channel = make("line", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    message.received_at = NOW
    asyncio.run(channel.send(reply_to(message, "Pick one", quick_replies=BUTTONS)))
    assert platform.bodies() == [
        {
            "replyToken": "757913772c4646b784d4b7ce46d12671",
            "messages": [
                {
                    "type": "text",
                    "text": "Pick one",
                    "quickReply": {
                        "items": [
                            {
                                "type": "action",
                                "action": {
                                    "type": "message",
                                    "label": "Track my order",
                                    "text": "where is my order",
                                },
                            },
                            {
                                "type": "action",
                                "action": {
                                    "type": "message",
                                    "label": "Talk to a customer…",
                                    "text": "I'd like to talk to a person",
                                },
                            },
                        ]
                    },
                }
            ],
        }
    ]


def test_more_than_five_parts_reply_with_five_then_push_the_rest() -> None:
    platform = FakePlatform(default={})
    channel = make("line", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    message.received_at = NOW
    text = "\n\n".join(f"Part {i}. " + "detail " * 700 for i in range(7))  # 7 × ~4,900 characters
    asyncio.run(channel.send(reply_to(message, text, quick_replies=BUTTONS)))
    reply, push = platform.requests
    assert str(reply.url).endswith("/reply") and str(push.url).endswith("/push")
    first, rest = (json.loads(r.content)["messages"] for r in (reply, push))
    assert len(first) == 5 and len(rest) == 2
    assert all(len(m["text"]) <= 5000 for m in first + rest)
    assert [("quickReply" in m) for m in first + rest] == [False] * 6 + [True]
    assert rest[0]["text"].startswith("Part 5.")
    assert "x-line-retry-key" in push.headers


def test_a_failed_second_batch_is_pushed_again_alone_with_its_own_retry_key() -> None:
    platform = FakePlatform(default={})
    platform.script = [httpx.Response(200, json={}), httpx.Response(400, json={"message": "bad"})]
    channel = make("line", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    message.received_at = NOW
    text = "\n\n".join(f"Part {i}. " + "detail " * 700 for i in range(6))
    reply = reply_to(message, text, reply_id="r6")
    with pytest.raises(SendError):
        asyncio.run(channel.send(reply))
    assert asyncio.run(channel.send(reply))
    urls = [str(r.url).rsplit("/", 1)[-1] for r in platform.requests]
    assert urls == ["reply", "push", "push"]
    failed, retried = platform.requests[1:]
    assert failed.headers["x-line-retry-key"] == retried.headers["x-line-retry-key"]
    assert [m["text"][:7] for m in json.loads(retried.content)["messages"]] == ["Part 5."]

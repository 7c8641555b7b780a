"""The generic signed webhook: HMAC over "{timestamp}.{body}", replay window, signed replies."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.channels.base import SignatureError
from server.channels.generic import sign
from server.errors import BadRequest
from tests.channels.helpers import NOW, FakePlatform, make, post, reply_to

CONFIG = {"secret": "whsec", "reply_url": "https://app.example/frontdesk/replies"}
BODY = json.dumps(
    {"id": "evt-1", "user": "customer-7", "text": "Where is my order?", "locale": "en"}
).encode()


def headers(body: bytes = BODY, secret: str = "whsec", timestamp: int = int(NOW)) -> dict[str, str]:
    return {
        "X-Frontdesk-Timestamp": str(timestamp),
        "X-Frontdesk-Signature": sign(secret.encode(), str(timestamp), body),
    }


def test_signature_accepted_and_rejected() -> None:
    channel = make("generic", CONFIG)
    channel.verify(post(BODY, headers()))
    for body, hdrs in (
        (BODY, headers(secret="nope")),
        (BODY + b" ", headers()),
        (BODY, headers(timestamp=int(NOW) - 301)),
        (BODY, headers(timestamp=int(NOW) + 400)),
        (BODY, {}),
    ):
        with pytest.raises(SignatureError):
            channel.verify(post(body, hdrs))


def test_single_and_batched_messages_are_parsed() -> None:
    channel = make("generic", CONFIG)
    [message] = channel.parse(post(BODY))
    assert (message.user_id, message.message_id, message.text, message.locale) == (
        "customer-7",
        "evt-1",
        "Where is my order?",
        "en",
    )
    batch = {"messages": [json.loads(BODY), {"id": "evt-2", "user": "c", "type": "typing"}]}
    assert len(channel.parse(post(batch))) == 1
    with pytest.raises(BadRequest):
        channel.parse(post({"text": "no id"}))


def test_reply_is_signed_with_a_stable_delivery_id() -> None:
    platform = FakePlatform(default={})
    channel = make("generic", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    asyncio.run(channel.send(reply_to(message, "On its way.", reply_id="msg_9")))
    [request] = platform.requests
    assert (
        str(request.url) == CONFIG["reply_url"]
        and request.headers["x-frontdesk-delivery"] == "msg_9"
    )
    timestamp = request.headers["x-frontdesk-timestamp"]
    assert request.headers["x-frontdesk-signature"] == sign(b"whsec", timestamp, request.content)
    assert json.loads(request.content) == {
        "reply_id": "msg_9",
        "reply_to": "evt-1",
        "user": "customer-7",
        "text": "On its way.",
        "citations": [],
        "quick_replies": [],
    }


def test_reply_carries_quick_replies_and_numbered_options_text_unsplit() -> None:
    platform = FakePlatform(default={})
    channel = make("generic", CONFIG, platform)
    [message] = channel.parse(post(BODY))
    buttons = [{"title": "Track my order", "payload": "where is my order"}]
    long_text = "word " * 30_000  # the app receiving it does its own layout: never split
    asyncio.run(channel.send(reply_to(message, long_text, reply_id="msg_10", quick_replies=buttons)))
    [request] = platform.requests
    sent = json.loads(request.content)
    assert sent["text"] == long_text and sent["quick_replies"] == buttons
    assert sent["options_text"] == "Reply 1 for Track my order"

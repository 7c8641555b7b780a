"""The channel registry, Sources lists, retries with back-off and at-most-once sends."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from server.channels.base import (
    CHANNELS,
    Channel,
    InboundMessage,
    SignatureError,
    channel_class,
    sources_block,
)
from server.channels.delivery import RetryPolicy, SendError
from server.channels.service import RedactTokens
from server.errors import BadRequest
from tests.channels.helpers import FakePlatform, make, post, reply_to

TELEGRAM = {"bot_token": "123:ABC", "secret_token": "s3cret"}


def message() -> InboundMessage:
    return InboundMessage("demo", "telegram", "42", "1", "hi", address={"chat_id": 42})


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(BadRequest) as err:
        channel_class("icq")
    assert "generic, line, meta, slack, telegram, wechat" in err.value.message


def test_missing_and_unknown_settings_are_named() -> None:
    with pytest.raises(BadRequest, match="needs secret_token"):
        make("telegram", {"bot_token": "x"})
    with pytest.raises(BadRequest, match="unknown telegram setting.*bot_tokn"):
        make("telegram", {**TELEGRAM, "bot_tokn": "x"})


def test_citations_become_a_numbered_sources_list() -> None:
    citations = [
        {
            "n": 1,
            "document": "Shipping times",
            "section": "Standard",
            "url": "/kb/demo/shipping-times#standard",
        },
        {"n": 2, "document": "Returns", "section": "", "url": "https://shop.example/returns"},
    ]
    assert sources_block(citations, "https://help.example") == (
        "Sources:\n"
        "1. Shipping times > Standard https://help.example/kb/demo/shipping-times#standard\n"
        "2. Returns https://shop.example/returns"
    )
    assert sources_block([]) == ""
    assert "help.example" not in sources_block(citations[:1])  # relative link without a base
    channel = make("telegram", {**TELEGRAM, "public_url": "https://help.example"})
    [text] = channel.format(reply_to(message(), "It takes 3-5 days [1].", citations=citations))
    assert text == "It takes 3-5 days [1].\n\n" + sources_block(citations, "https://help.example")


def test_send_retries_500_then_succeeds() -> None:
    platform = FakePlatform(
        httpx.Response(500), httpx.Response(502), default={"ok": True, "result": {}}
    )
    channel = make("telegram", TELEGRAM, platform)
    assert asyncio.run(channel.send(reply_to(message())))
    assert len(platform.requests) == 3


def test_send_retries_429_and_transport_errors_then_gives_up() -> None:
    platform = FakePlatform(
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.ConnectError("down"),
        httpx.Response(503),
    )
    channel = make("telegram", TELEGRAM, platform)
    with pytest.raises(SendError, match="after 3 attempts") as err:
        asyncio.run(channel.send(reply_to(message())))
    assert err.value.retryable and len(platform.requests) == 3


def test_4xx_is_not_retried() -> None:
    platform = FakePlatform(
        httpx.Response(400, json={"ok": False, "description": "chat not found"})
    )
    with pytest.raises(SendError, match="HTTP 400"):
        asyncio.run(make("telegram", TELEGRAM, platform).send(reply_to(message())))
    assert len(platform.requests) == 1


def test_one_reply_is_sent_once_and_a_failed_one_can_be_retried() -> None:
    platform = FakePlatform(httpx.Response(400))
    channel = make("telegram", TELEGRAM, platform)
    with pytest.raises(SendError):
        asyncio.run(channel.send(reply_to(message(), reply_id="r1")))
    assert asyncio.run(
        channel.send(reply_to(message(), reply_id="r1"))
    )  # the failed one goes again
    assert not asyncio.run(channel.send(reply_to(message(), reply_id="r1")))  # sent: never twice
    assert len(platform.requests) == 2


def test_backoff_grows_exponentially_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=8.0)
    assert (
        0.5 <= policy.delay(1) <= 1.0 and 2.0 <= policy.delay(3) <= 4.0 and policy.delay(9) <= 8.0
    )
    assert policy.delay(1, "3") == 3.0 and policy.delay(1, "600") == 8.0


def test_tokens_in_logged_urls_are_redacted() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s"',
        ("POST", "https://api.telegram.org/bot123:ABC/sendMessage?access_token=xyz&a=1", "200 OK"),
        None,
    )
    RedactTokens().filter(record)
    assert "123:ABC" not in record.getMessage() and "xyz" not in record.getMessage()
    assert "/bot***/sendMessage?access_token=***&a=1" in record.getMessage()


MINIMAL = {
    "telegram": TELEGRAM,
    "slack": {"signing_secret": "s", "bot_token": "b"},
    "meta": {"app_secret": "a", "verify_token": "v", "access_token": "t"},
    "line": {"channel_secret": "s", "channel_access_token": "t"},
    "wechat": {"token": "t", "appid": "a", "appsecret": "s"},
    "generic": {"secret": "s"},
}


def test_every_registered_kind_is_covered_by_the_contract() -> None:
    channel_class("telegram")  # loads the built-ins
    assert set(MINIMAL) == set(CHANNELS)


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_every_channel_refuses_an_unsigned_post(kind: str) -> None:
    channel = make(kind, MINIMAL[kind])
    assert isinstance(channel, Channel)
    with pytest.raises(SignatureError) as err:
        channel.verify(post({"update_id": 1, "object": "page", "events": [], "text": "hi"}))
    assert err.value.status == 403 and err.value.code == "bad_signature"

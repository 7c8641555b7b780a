"""Meta: the hub.* subscription handshake, X-Hub-Signature-256, WhatsApp and Messenger payloads."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from server.channels.base import SignatureError, hmac_hex
from tests.channels.helpers import FakePlatform, get, make, post, reply_to

CONFIG = {"app_secret": "app-secret", "verify_token": "vt-123", "access_token": "EAAG-token"}
# WhatsApp Cloud API "text message received" notification, from Meta's webhook examples.
WHATSAPP = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "contacts": [
                            {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
                        ],
                        "messages": [
                            {
                                "from": "16505551234",
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",  # noqa: E501
                                "timestamp": "1749416383",
                                "type": "text",
                                "text": {"body": "Does it come in another color?"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
STATUS = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "statuses": [
                            {
                                "id": "wamid.X",
                                "status": "delivered",
                                "timestamp": "1750263773",
                                "recipient_id": "1",
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
# Messenger `messages` webhook event, from the Messenger Platform reference.
MESSENGER = {
    "object": "page",
    "entry": [
        {
            "id": "PAGE-ID",
            "time": 1458692752478,
            "messaging": [
                {
                    "sender": {"id": "USER-PSID"},
                    "recipient": {"id": "PAGE-ID"},
                    "timestamp": 1762902671,
                    "message": {
                        "mid": "mid.1457764197618:41d102a3e1ae206a38",
                        "text": "hello, world!",
                    },
                }
            ],
        }
    ],
}


def sign(body: bytes, secret: str = "app-secret") -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac_hex(secret.encode(), body)}


def test_subscription_handshake() -> None:
    channel = make("meta", CONFIG)
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
    assert channel.handshake(get(query)).body == "1158201444"
    with pytest.raises(SignatureError):
        channel.handshake(get({**query, "hub.verify_token": "nope"}))


def test_signature_accepted_and_rejected() -> None:
    channel = make("meta", CONFIG)
    request = post(WHATSAPP)
    channel.verify(post(request.body, sign(request.body)))
    for headers, body in (
        (sign(request.body, "other"), request.body),
        (sign(request.body), request.body + b" "),
        ({}, request.body),
    ):
        with pytest.raises(SignatureError):
            channel.verify(post(body, headers))


def test_whatsapp_text_is_parsed_and_statuses_ignored() -> None:
    channel = make("meta", CONFIG)
    [message] = channel.parse(post(WHATSAPP))
    assert message.text == "Does it come in another color?" and message.user_id == "wa:16505551234"
    assert message.message_id.startswith("wamid.")
    assert channel.parse(post(STATUS)) == []


def test_messenger_text_is_parsed_and_echoes_ignored() -> None:
    channel = make("meta", CONFIG)
    [message] = channel.parse(post(MESSENGER))
    assert (message.user_id, message.message_id, message.text) == (
        "fb:USER-PSID",
        "mid.1457764197618:41d102a3e1ae206a38",
        "hello, world!",
    )
    echo = {
        **MESSENGER,
        "entry": [
            {
                **MESSENGER["entry"][0],
                "messaging": [
                    {
                        **MESSENGER["entry"][0]["messaging"][0],
                        "message": {"mid": "m2", "text": "hi", "is_echo": True},
                    }
                ],
            }
        ],
    }
    assert channel.parse(post(echo)) == []


def test_send_requests_for_whatsapp_and_messenger() -> None:
    platform = FakePlatform(httpx.Response(500), default={"messages": [{"id": "wamid.OUT"}]})
    channel = make("meta", CONFIG, platform)
    [wa] = channel.parse(post(WHATSAPP))
    [fb] = channel.parse(post(MESSENGER))
    asyncio.run(channel.send(reply_to(wa, "Yes, in blue.", reply_id="r1")))
    asyncio.run(channel.send(reply_to(fb, "Hi!", reply_id="r2")))
    urls = [str(r.url) for r in platform.requests]
    assert urls == ["https://graph.facebook.com/v21.0/106540352242922/messages"] * 2 + [
        "https://graph.facebook.com/v21.0/me/messages"
    ]
    assert all(r.headers["authorization"] == "Bearer EAAG-token" for r in platform.requests)
    assert platform.bodies()[1] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, in blue."},
    }
    assert platform.bodies()[2] == {
        "recipient": {"id": "USER-PSID"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hi!"},
    }

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


BUTTONS = [
    {"title": "Track my order", "payload": "where is my order"},
    {"title": "Talk to a person", "payload": "I'd like to talk to a person"},
]


def whatsapp_with(message: dict) -> dict:
    """The WHATSAPP notification with its message replaced."""
    value = {**WHATSAPP["entry"][0]["changes"][0]["value"], "messages": [message]}
    change = {**WHATSAPP["entry"][0]["changes"][0], "value": value}
    return {**WHATSAPP, "entry": [{**WHATSAPP["entry"][0], "changes": [change]}]}


def sent_whatsapp(buttons: list[dict], text: str = "Pick one") -> list[dict]:
    platform = FakePlatform(default={"messages": [{"id": "wamid.OUT"}]})
    channel = make("meta", CONFIG, platform)
    [wa] = channel.parse(post(WHATSAPP))
    asyncio.run(channel.send(reply_to(wa, text, quick_replies=buttons)))
    return platform.bodies()


def test_whatsapp_up_to_three_short_buttons_are_reply_buttons() -> None:
    [body] = sent_whatsapp(BUTTONS)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Pick one"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "where is my order", "title": "Track my order"}},
                    {
                        "type": "reply",
                        "reply": {"id": "I'd like to talk to a person", "title": "Talk to a person"},
                    },
                ]
            },
        },
    }


def test_whatsapp_more_buttons_or_long_titles_become_a_list() -> None:
    buttons = BUTTONS + [
        {"title": "Start a return or exchange today", "payload": "start a return"},
        {"title": "Payments", "payload": "payments"},
    ]
    [body] = sent_whatsapp(buttons)
    assert body["interactive"] == {
        "type": "list",
        "body": {"text": "Pick one"},
        "action": {
            "button": "Options",
            "sections": [
                {
                    "rows": [
                        {"id": "where is my order", "title": "Track my order"},
                        {"id": "I'd like to talk to a person", "title": "Talk to a person"},
                        {
                            "id": "start a return",
                            "title": "Start a return or excha…",
                            "description": "Start a return or exchange today",
                        },
                        {"id": "payments", "title": "Payments"},
                    ]
                }
            ],
        },
    }
    assert len(body["interactive"]["action"]["sections"][0]["rows"][2]["title"]) == 24
    [long_title] = sent_whatsapp([{"title": "Talk to a person right now", "payload": "agent"}])
    assert long_title["interactive"]["type"] == "list"  # one button, but its title is over 20


def test_whatsapp_more_than_ten_buttons_become_numbered_text() -> None:
    buttons = [{"title": f"Option {i}", "payload": f"option {i}"} for i in range(1, 12)]
    [body] = sent_whatsapp(buttons)
    assert body["type"] == "text"
    assert body["text"]["body"].startswith("Pick one\n\nReply 1 for Option 1\nReply 2 for Option 2")


def test_whatsapp_long_reply_splits_and_the_interactive_body_fits_1024() -> None:
    text = "Our return policy explained in detail. " * 150  # ~5,900 characters
    bodies = sent_whatsapp(BUTTONS, text)
    assert [b["type"] for b in bodies][-1] == "interactive" and len(bodies) >= 2
    assert all(len(b["text"]["body"]) <= 4096 for b in bodies[:-1])
    assert len(bodies[-1]["interactive"]["body"]["text"]) <= 1024


def test_whatsapp_button_and_list_replies_are_parsed_as_their_ids() -> None:
    channel = make("meta", CONFIG)
    # "Reply button" and "List message" replies as in the Cloud API webhook reference.
    button = {
        "context": {"from": "15550783881", "id": "wamid.OUT"},
        "from": "16505551234",
        "id": "wamid.BUTTON",
        "timestamp": "1750000000",
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "where is my order", "title": "Track my order"},
        },
    }
    listed = {
        **button,
        "id": "wamid.LIST",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "start a return", "title": "Start a return or exchan…", "description": "x"},
        },
    }
    [pressed] = channel.parse(post(whatsapp_with(button)))
    [chosen] = channel.parse(post(whatsapp_with(listed)))
    assert (pressed.text, pressed.message_id, pressed.user_id) == (
        "where is my order",
        "wamid.BUTTON",
        "wa:16505551234",
    )
    assert chosen.text == "start a return"
    template = {**button, "id": "wamid.T", "type": "button", "button": {"payload": "yes", "text": "Yes"}}
    assert channel.parse(post(whatsapp_with(template)))[0].text == "yes"
    unknown = {**button, "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}}
    assert channel.parse(post(whatsapp_with(unknown))) == []


def test_messenger_quick_replies_are_sent_and_their_payload_parsed() -> None:
    platform = FakePlatform(default={"recipient_id": "USER-PSID", "message_id": "m"})
    channel = make("meta", CONFIG, platform)
    [fb] = channel.parse(post(MESSENGER))
    buttons = BUTTONS + [{"title": "Start a return or exchange today", "payload": "start a return"}]
    asyncio.run(channel.send(reply_to(fb, "Pick one", quick_replies=buttons)))
    assert platform.bodies() == [
        {
            "recipient": {"id": "USER-PSID"},
            "messaging_type": "RESPONSE",
            "message": {
                "text": "Pick one",
                "quick_replies": [
                    {"content_type": "text", "title": "Track my order", "payload": "where is my order"},
                    {
                        "content_type": "text",
                        "title": "Talk to a person",
                        "payload": "I'd like to talk to a person",
                    },
                    {"content_type": "text", "title": "Start a return or e…", "payload": "start a return"},
                ],
            },
        }
    ]
    # The `messages` event of a tapped quick reply: the title as text, the payload beside it.
    tapped = {
        **MESSENGER,
        "entry": [
            {
                **MESSENGER["entry"][0],
                "messaging": [
                    {
                        **MESSENGER["entry"][0]["messaging"][0],
                        "message": {
                            "mid": "m_tapped",
                            "text": "Talk to a person",
                            "quick_reply": {"payload": "I'd like to talk to a person"},
                        },
                    }
                ],
            }
        ],
    }
    [message] = channel.parse(post(tapped))
    assert message.text == "I'd like to talk to a person" and message.message_id == "m_tapped"


def test_messenger_text_is_split_at_2000_characters() -> None:
    platform = FakePlatform(default={"recipient_id": "USER-PSID", "message_id": "m"})
    channel = make("meta", CONFIG, platform)
    [fb] = channel.parse(post(MESSENGER))
    text = "We ship worldwide. " * 150  # ~2,850 characters
    asyncio.run(channel.send(reply_to(fb, text)))
    texts = [b["message"]["text"] for b in platform.bodies()]
    assert len(texts) == 2 and all(len(t) <= 2000 for t in texts)
    assert " ".join(texts) == text.strip()

"""Slack: v0 signatures (with Slack's documented example), replay window, challenge, events."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import pytest

from server.channels.base import SignatureError, hmac_hex
from server.channels.delivery import SendError
from server.errors import BadRequest
from tests.channels.helpers import NOW, FakePlatform, make, post, reply_to

# Slack's "Verifying requests" walk-through: this secret, timestamp and body give this signature.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgc"
    "ZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
CONFIG = {"signing_secret": DOC_SECRET, "bot_token": "xoxb-1-2-3", "bot_user_id": "UBOT"}
# An Events API `message.im` delivery, as in Slack's event reference.
EVENT = {
    "token": "one-long-verification-token",
    "team_id": "T061EG9R6",
    "api_app_id": "A0PNCHHK2",
    "event": {
        "type": "message",
        "channel": "D024BE91L",
        "user": "U2147483697",
        "text": "Hello hello can you hear me?",
        "ts": "1355517523.000005",
        "event_ts": "1355517523.000005",
        "channel_type": "im",
    },
    "type": "event_callback",
    "authed_teams": ["T061EG9R6"],
    "event_id": "Ev0PV52K21",
    "event_time": 1355517523,
}


def signed(body: str, secret: str = DOC_SECRET, timestamp: str = str(int(NOW))) -> dict[str, str]:
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + hmac_hex(secret.encode(), f"v0:{timestamp}:{body}".encode()),
    }


def test_documented_signature_is_accepted() -> None:
    make("slack", CONFIG).verify(
        post(
            DOC_BODY,
            {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": DOC_SIGNATURE},
        )
    )


@pytest.mark.parametrize("case", ["wrong secret", "tampered body", "stale timestamp", "missing"])
def test_bad_signatures_are_rejected(case: str) -> None:
    headers = {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": DOC_SIGNATURE}
    body = DOC_BODY
    if case == "wrong secret":
        headers = signed(DOC_BODY, secret="not-the-secret")
    elif case == "tampered body":
        body = DOC_BODY.replace("roadrunner", "coyote")
    elif case == "stale timestamp":
        headers = signed(DOC_BODY, timestamp=str(int(NOW) - 301))
    else:
        headers = {}
    with pytest.raises(SignatureError):
        make("slack", CONFIG).verify(post(body, headers))


def test_url_verification_challenge_is_echoed() -> None:
    body = (
        '{"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": '
        '"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}'
    )
    channel = make("slack", CONFIG)
    request = post(body, signed(body))
    channel.verify(request)
    assert channel.handshake(request).body == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


def test_message_event_is_parsed_and_mention_stripped() -> None:
    channel = make("slack", CONFIG)
    [message] = channel.parse(post(EVENT))
    assert (message.user_id, message.message_id, message.text) == (
        "D024BE91L/U2147483697",
        "D024BE91L:1355517523.000005",
        "Hello hello can you hear me?",
    )
    mention = {
        **EVENT,
        "event_id": "Ev2",
        "event": {**EVENT["event"], "type": "app_mention", "text": "<@UBOT> where is my order?"},
    }
    [again] = channel.parse(post(mention))
    assert again.text == "where is my order?"
    assert again.message_id == message.message_id  # the same message: one stored customer message


@pytest.mark.parametrize(
    "event",
    [
        {"bot_id": "B123", "user": "UBOT"},
        {"user": "UBOT"},
        {"subtype": "message_changed"},
        {"type": "reaction_added"},
    ],
)
def test_bots_edits_and_other_events_are_ignored(event: dict) -> None:
    payload = {**EVENT, "event": {**EVENT["event"], **event}}
    assert make("slack", CONFIG).parse(post(payload)) == []


def test_post_message_request_and_refusal() -> None:
    platform = FakePlatform(default={"ok": True, "ts": "1.2"})
    channel = make("slack", {**CONFIG, "reply_in_thread": "1"}, platform)
    [message] = channel.parse(post(EVENT))
    asyncio.run(channel.send(reply_to(message)))
    [request] = platform.requests
    assert str(request.url) == "https://slack.com/api/chat.postMessage"
    assert request.headers["authorization"] == "Bearer xoxb-1-2-3"
    assert platform.bodies() == [
        {"channel": "D024BE91L", "text": "Hello!", "thread_ts": "1355517523.000005"}
    ]
    refusing = make(
        "slack", CONFIG, FakePlatform(default={"ok": False, "error": "channel_not_found"})
    )
    with pytest.raises(SendError, match="channel_not_found"):
        asyncio.run(refusing.send(reply_to(message, reply_id="r2")))


def test_real_clock_window() -> None:
    channel = make("slack", CONFIG, clock=time.time)
    now = str(int(time.time()))
    channel.verify(post(DOC_BODY, signed(DOC_BODY, timestamp=now)))


BUTTONS = [
    {"title": "Track my order", "payload": "where is my order"},
    {"title": "Talk to a person", "payload": "I'd like to talk to a person"},
]
# A `block_actions` interactivity payload (Slack's reference shape, trimmed) for a click on our
# second button in a DM.
CLICK = {
    "type": "block_actions",
    "user": {"id": "U2147483697", "username": "ada", "team_id": "T061EG9R6"},
    "api_app_id": "A0PNCHHK2",
    "token": "one-long-verification-token",
    "container": {
        "type": "message",
        "message_ts": "1355517524.000006",
        "channel_id": "D024BE91L",
        "is_ephemeral": False,
    },
    "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
    "team": {"id": "T061EG9R6", "domain": "example"},
    "channel": {"id": "D024BE91L", "name": "directmessage"},
    "message": {"type": "message", "ts": "1355517524.000006", "text": "Pick one", "bot_id": "B1"},
    "response_url": "https://hooks.slack.com/actions/T061EG9R6/1/abc",
    "actions": [
        {
            "action_id": "frontdesk_qr_2",
            "block_id": "frontdesk_quick_replies_1",
            "text": {"type": "plain_text", "text": "Talk to a person"},
            "value": "I'd like to talk to a person",
            "type": "button",
            "action_ts": "1355517530.000007",
        }
    ],
}


def form(payload: dict) -> tuple[str, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload)})
    return body, {**signed(body), "Content-Type": "application/x-www-form-urlencoded"}


def test_button_click_is_a_signed_form_post_parsed_as_the_customer_saying_the_value() -> None:
    channel = make("slack", CONFIG)
    body, headers = form(CLICK)
    request = post(body, headers)
    channel.verify(request)  # the same signing secret covers interactivity requests
    assert channel.handshake(request) is None
    [message] = channel.parse(request)
    [event_message] = channel.parse(post(EVENT))
    assert message.user_id == event_message.user_id == "D024BE91L/U2147483697"  # one conversation
    assert message.text == "I'd like to talk to a person"
    assert message.message_id == "D024BE91L:click:1355517530.000007"
    assert message.address == {"channel": "D024BE91L", "thread_ts": "1355517524.000006"}
    assert channel.ack(request).body == ""
    other_app = {**CLICK, "actions": [{**CLICK["actions"][0], "action_id": "approve"}]}
    assert channel.parse(post(*form(other_app))) == []
    assert channel.parse(post(*form({**CLICK, "type": "view_submission"}))) == []
    with pytest.raises(BadRequest):
        channel.parse(post("payload=not-json", {"Content-Type": "application/x-www-form-urlencoded"}))


def test_quick_replies_become_block_kit_buttons_under_a_section() -> None:
    platform = FakePlatform(default={"ok": True, "ts": "1.2"})
    channel = make("slack", CONFIG, platform)
    [message] = channel.parse(post(EVENT))
    asyncio.run(channel.send(reply_to(message, "Pick one", quick_replies=BUTTONS)))
    assert platform.bodies() == [
        {
            "channel": "D024BE91L",
            "text": "Pick one",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "Pick one"}},
                {
                    "type": "actions",
                    "block_id": "frontdesk_quick_replies_1",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Track my order"},
                            "value": "where is my order",
                            "action_id": "frontdesk_qr_1",
                        },
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Talk to a person"},
                            "value": "I'd like to talk to a person",
                            "action_id": "frontdesk_qr_2",
                        },
                    ],
                },
            ],
        }
    ]


def test_long_reply_is_split_and_the_buttoned_part_fits_a_section() -> None:
    platform = FakePlatform(default={"ok": True, "ts": "1.2"})
    channel = make("slack", CONFIG, platform)
    [message] = channel.parse(post(EVENT))
    text = "\n\n".join(["A paragraph about returns. " * 40] * 5)  # ~5,400 characters
    asyncio.run(channel.send(reply_to(message, text, quick_replies=BUTTONS)))
    bodies = platform.bodies()
    assert len(bodies) >= 2 and all(len(b["text"]) <= 4000 for b in bodies)
    assert all("blocks" not in b for b in bodies[:-1])
    assert len(bodies[-1]["blocks"][0]["text"]["text"]) <= 3000

"""Slack Events API and interactivity: v0 signatures, url_verification, message/app_mention,
button clicks (`block_actions`), chat.postMessage with Block Kit buttons."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from server.channels import buttons as qr
from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    SignatureError,
    WebhookAnswer,
    WebhookRequest,
    hmac_hex,
    json_body,
    register_channel,
    same,
)
from server.channels.delivery import SendError, call
from server.errors import BadRequest

API = "https://slack.com/api"
MENTION = re.compile(r"<@[A-Z0-9]+>\s*")
ACTION_PREFIX = "frontdesk_qr_"  # our buttons' action_id: frontdesk_qr_1, frontdesk_qr_2, …
SECTION_CHARS = 3000  # a section block's text
BUTTON_TEXT_CHARS = 75  # a button's plain_text label
BUTTON_VALUE_CHARS = 2000
ACTIONS_PER_BLOCK = 25


def interaction(request: WebhookRequest) -> dict[str, Any] | None:
    """The JSON `payload` of a form-encoded interactivity request (button clicks); None for events."""
    if not request.header("content-type").startswith("application/x-www-form-urlencoded"):
        return None
    values = parse_qs(request.body.decode("utf-8", "replace")).get("payload")
    try:
        payload = json.loads(values[0]) if values else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise BadRequest("interactivity request without a JSON payload")
    return payload


@register_channel("slack")
class SlackChannel(BaseChannel):
    """A Slack app; set both the Events API and the Interactivity request URLs to the webhook URL."""

    required = ("signing_secret", "bot_token")
    optional = {"api_base": API, "bot_user_id": "", "reply_in_thread": ""}
    max_chars = 4000  # Slack truncates at 40,000 and advises 4,000 a message

    def verify(self, request: WebhookRequest) -> None:
        """Check `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` and a 5-minute replay window."""
        timestamp = request.header("x-slack-request-timestamp")
        self.check_fresh(timestamp, 300)
        base = b"v0:" + timestamp.encode() + b":" + request.body
        expected = "v0=" + hmac_hex(self.secret("signing_secret"), base)
        if not same(expected, request.header("x-slack-signature")):
            raise SignatureError("bad X-Slack-Signature")

    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        """Echo the challenge of a (signed) url_verification event."""
        if interaction(request) is not None:
            return None
        payload = json_body(request.body)
        if payload.get("type") == "url_verification":
            return WebhookAnswer(body=str(payload.get("challenge", "")))
        return None

    def ack(self, request: WebhookRequest) -> WebhookAnswer:
        """A plain 200 (an empty one for interactivity requests)."""
        return WebhookAnswer(body="") if interaction(request) is not None else WebhookAnswer()

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """User-written `message` and `app_mention` events, and clicks on our buttons."""
        clicked = interaction(request)
        if clicked is not None:
            return self._clicks(clicked)
        payload = json_body(request.body)
        event = payload.get("event") or {}
        if payload.get("type") != "event_callback" or event.get("type") not in (
            "message",
            "app_mention",
        ):
            return []
        user = event.get("user")
        if (
            event.get("bot_id")
            or event.get("subtype")
            or not user
            or not isinstance(event.get("text"), str)
        ):
            return []  # bot messages, edits, joins, deletions…
        if user == self.config.get("bot_user_id"):
            return []
        text = MENTION.sub("", event["text"]).strip()
        if not text:
            return []
        channel = event.get("channel", "")
        # message and app_mention events of one message share channel + ts: one stored message
        return [
            InboundMessage(
                bot=self.bot,
                channel=self.kind,
                user_id=f"{channel}/{user}",
                message_id=f"{channel}:{event.get('ts')}",
                text=text,
                address={
                    "channel": channel,
                    "thread_ts": event.get("thread_ts") or event.get("ts"),
                },
            )
        ]

    def _clicks(self, payload: dict[str, Any]) -> list[InboundMessage]:
        """A `block_actions` click on one of our buttons: the customer says the button's value."""
        if payload.get("type") != "block_actions":
            return []  # view submissions, shortcuts…
        user = (payload.get("user") or {}).get("id")
        container = payload.get("container") or {}
        channel = (payload.get("channel") or {}).get("id") or container.get("channel_id")
        message = payload.get("message") or {}
        out = []
        for action in payload.get("actions") or []:
            value = action.get("value")
            if (
                not str(action.get("action_id", "")).startswith(ACTION_PREFIX)
                or not isinstance(value, str)
                or not user
                or not channel
            ):
                continue
            out.append(
                InboundMessage(
                    bot=self.bot,
                    channel=self.kind,
                    user_id=f"{channel}/{user}",
                    message_id=f"{channel}:click:{action.get('action_ts') or payload.get('trigger_id')}",
                    text=value,
                    address={
                        "channel": channel,
                        "thread_ts": message.get("thread_ts")
                        or container.get("thread_ts")
                        or container.get("message_ts")
                        or message.get("ts"),
                    },
                )
            )
        return out

    def native_buttons(self, reply: OutboundReply) -> bool:
        """Block Kit buttons for every reply with quick replies."""
        return True

    def button_limit(self, reply: OutboundReply) -> int:
        """The message with buttons shows its text in a section block (3,000 characters)."""
        return SECTION_CHARS

    @staticmethod
    def blocks(text: str, buttons: list[dict[str, str]]) -> list[dict[str, Any]]:
        """A section with the text, then actions blocks of buttons whose value is the payload."""
        elements = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": qr.fit(b["title"], BUTTON_TEXT_CHARS)},
                "value": b["payload"][:BUTTON_VALUE_CHARS],
                "action_id": f"{ACTION_PREFIX}{i}",
            }
            for i, b in enumerate(buttons, 1)
        ]
        actions = [
            {"type": "actions", "block_id": f"frontdesk_quick_replies_{n}", "elements": chunk}
            for n, chunk in enumerate(
                (elements[i : i + ACTIONS_PER_BLOCK] for i in range(0, len(elements), ACTIONS_PER_BLOCK)),
                1,
            )
        ]
        return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}, *actions]

    async def post_part(self, reply: OutboundReply, text: str, last: bool) -> None:
        """chat.postMessage into the channel (in the thread when reply_in_thread is set)."""
        body: dict[str, Any] = {"channel": reply.to.address["channel"], "text": text}
        if last and reply.quick_replies:
            body["blocks"] = self.blocks(text, reply.quick_replies)
        if self.config.get("reply_in_thread"):
            body["thread_ts"] = reply.to.address["thread_ts"]
        headers = {"Authorization": f"Bearer {self.config['bot_token']}"}
        response = await call(
            self.http,
            "POST",
            f"{self.config['api_base']}/chat.postMessage",
            json=body,
            headers=headers,
            policy=self.retry,
            what="slack chat.postMessage",
        )
        if not response.json().get("ok"):
            raise SendError(f"slack chat.postMessage refused: {response.json().get('error')}")

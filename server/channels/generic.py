"""A generic signed webhook for any other platform or app (our own documented contract).

Inbound: POST JSON `{"id", "user", "text", "locale"?}` (or `{"messages": [...]}`) with
`X-Frontdesk-Timestamp: <unix seconds>` and
`X-Frontdesk-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>`.
Outbound: the reply is POSTed, signed the same way, to the configured `reply_url` with an
`X-Frontdesk-Delivery` id that stays the same across retries. It is never split; its quick
replies travel as `quick_replies` (to show as buttons) and as `options_text`, numbered lines
to append for a surface without buttons (an answer "1" then picks the first button).
"""

from __future__ import annotations

import json
from typing import Any

from server.channels import buttons as qr
from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    SignatureError,
    WebhookRequest,
    hmac_hex,
    json_body,
    register_channel,
    same,
)
from server.channels.delivery import call
from server.errors import BadRequest


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Frontdesk-Signature value for a body sent at timestamp."""
    return "sha256=" + hmac_hex(secret, timestamp.encode() + b"." + body)


@register_channel("generic")
class GenericChannel(BaseChannel):
    """Any app that can sign a JSON POST; replies go to its reply_url."""

    required = ("secret",)
    optional = {"reply_url": "", "window_seconds": "300"}
    generated = ("secret",)
    max_chars = 100_000

    def verify(self, request: WebhookRequest) -> None:
        """Check the timestamp window, then the HMAC over `{timestamp}.{body}`."""
        timestamp = request.header("x-frontdesk-timestamp")
        self.check_fresh(timestamp, float(self.config["window_seconds"]))
        if not same(
            sign(self.secret("secret"), timestamp, request.body),
            request.header("x-frontdesk-signature"),
        ):
            raise SignatureError("bad X-Frontdesk-Signature")

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """One message object, or a `messages` list of them; entries without text are skipped."""
        payload = json_body(request.body)
        items = payload.get("messages") if "messages" in payload else [payload]
        if not isinstance(items, list):
            raise BadRequest("messages must be a list")
        return [
            self._message(m)
            for m in items
            if isinstance(m, dict) and isinstance(m.get("text"), str)
        ]

    def _message(self, item: dict[str, Any]) -> InboundMessage:
        if not item.get("id") or not item.get("user"):
            raise BadRequest("each message needs an id and a user")
        return InboundMessage(
            bot=self.bot,
            channel=self.kind,
            user_id=str(item["user"]),
            message_id=str(item["id"]),
            text=item["text"],
            locale=item.get("locale"),
            address={"user": str(item["user"])},
        )

    def format(self, reply: OutboundReply) -> list[str]:
        """One part, the reply's own text: the app receiving it lays out citations and buttons."""
        return [reply.text]

    async def post_part(self, reply: OutboundReply, text: str, last: bool) -> None:
        """POST the signed reply to reply_url (nothing to do when none is configured)."""
        if not self.config.get("reply_url"):
            return
        payload: dict[str, Any] = {
            "reply_id": reply.reply_id,
            "reply_to": reply.to.message_id,
            "user": reply.to.address["user"],
            "text": text,
            "citations": reply.citations,
            "quick_replies": reply.quick_replies,
        }
        if reply.quick_replies:
            payload["options_text"] = qr.numbered_lines(reply.quick_replies, reply.text)
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Frontdesk-Timestamp": timestamp,
            "X-Frontdesk-Signature": sign(self.secret("secret"), timestamp, body),
            "X-Frontdesk-Delivery": reply.reply_id,
        }
        await call(
            self.http,
            "POST",
            str(self.config["reply_url"]),
            content=body,
            headers=headers,
            policy=self.retry,
            what="generic reply_url",
        )

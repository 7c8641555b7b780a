"""LINE Messaging API: X-Line-Signature, message events, reply API with push as fallback.

A reply or push call carries at most 5 messages: a reply that needs more parts goes out in
batches of 5 (the reply token serves the first batch only; the rest are pushed). Quick replies
ride on the last message as `quickReply` items with message actions (at most 13, labels up to
20 characters); the action's text is the payload (or the title when the payload is over 300).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

from server.channels import buttons as qr
from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    Progress,
    SignatureError,
    WebhookRequest,
    json_body,
    register_channel,
    same,
)
from server.channels.delivery import SendError, call

API = "https://api.line.me"
REPLY_TOKEN_SECONDS = 50  # reply tokens are short-lived: after this, push instead
MESSAGES_PER_CALL = 5
QUICK_REPLY_ITEMS, LABEL_CHARS, ACTION_TEXT_CHARS = 13, 20, 300


@register_channel("line")
class LineChannel(BaseChannel):
    """A LINE Official Account's Messaging API channel."""

    required = ("channel_secret", "channel_access_token")
    optional = {"api_base": API}
    max_chars = 5000  # a text message, counted in UTF-16 code units

    def verify(self, request: WebhookRequest) -> None:
        """X-Line-Signature = base64(HMAC-SHA256(channel_secret, raw body)): LINE's only guard."""
        digest = hmac.new(self.secret("channel_secret"), request.body, hashlib.sha256).digest()
        if not same(base64.b64encode(digest).decode(), request.header("x-line-signature")):
            raise SignatureError("bad X-Line-Signature")

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """Text `message` events (the console's empty verification delivery yields none)."""
        out = []
        for event in json_body(request.body).get("events") or []:
            message = event.get("message") or {}
            if event.get("type") != "message" or message.get("type") != "text":
                continue  # follow, unfollow, postback, stickers, images…
            source = event.get("source") or {}
            to = source.get("groupId") or source.get("roomId") or source.get("userId")
            out.append(
                InboundMessage(
                    bot=self.bot,
                    channel=self.kind,
                    user_id=str(source.get("userId") or to),
                    message_id=str(message["id"]),
                    text=str(message.get("text", "")),
                    address={"reply_token": event.get("replyToken"), "to": to},
                )
            )
        return out

    def native_buttons(self, reply: OutboundReply) -> bool:
        """Quick-reply buttons when there are at most 13."""
        return len(reply.quick_replies) <= QUICK_REPLY_ITEMS

    async def post_parts(self, reply: OutboundReply, parts: list[str], progress: Progress) -> None:
        """Send the parts in calls of up to 5 messages: reply token first (while fresh), then push."""
        messages: list[dict[str, Any]] = [{"type": "text", "text": p} for p in parts]
        if reply.quick_replies and self.native_buttons(reply):
            messages[-1]["quickReply"] = quick_reply(reply.quick_replies)
        while progress.sent < len(messages):
            batch = messages[progress.sent : progress.sent + MESSAGES_PER_CALL]
            await self._post_batch(reply, batch, first=progress.sent == 0, offset=progress.sent)
            progress.sent += len(batch)

    async def _post_batch(
        self, reply: OutboundReply, messages: list[dict[str, Any]], first: bool, offset: int
    ) -> None:
        """Reply with the event's replyToken while it is fresh (first batch only), else push."""
        headers = {"Authorization": f"Bearer {self.config['channel_access_token']}"}
        token = reply.to.address.get("reply_token")
        if first and token and self.clock() - reply.to.received_at < REPLY_TOKEN_SECONDS:
            try:
                await call(
                    self.http,
                    "POST",
                    f"{self.config['api_base']}/v2/bot/message/reply",
                    headers=headers,
                    json={"replyToken": token, "messages": messages},
                    policy=self.retry,
                    what="line reply",
                )
                return
            except SendError as exc:
                if exc.retryable:
                    raise
        # the retry key (one per batch) makes LINE drop a second push of the same messages
        key = f"frontdesk:{reply.reply_id}" + (f":{offset}" if offset else "")
        headers["X-Line-Retry-Key"] = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
        try:
            await call(
                self.http,
                "POST",
                f"{self.config['api_base']}/v2/bot/message/push",
                headers=headers,
                json={"to": reply.to.address["to"], "messages": messages},
                policy=self.retry,
                what="line push",
            )
        except SendError as exc:
            if exc.http_status != 409:  # 409: LINE already accepted this retry key
                raise


def quick_reply(buttons: list[dict[str, str]]) -> dict[str, Any]:
    """LINE quickReply items: message actions labelled with the title, saying the payload."""
    items = []
    for b in buttons:
        said = b["payload"] if len(b["payload"]) <= ACTION_TEXT_CHARS else b["title"]
        action = {"type": "message", "label": qr.fit(b["title"], LABEL_CHARS), "text": said}
        items.append({"type": "action", "action": action})
    return {"items": items}

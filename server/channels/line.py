"""LINE Messaging API: X-Line-Signature, message events, reply API with push as fallback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    SignatureError,
    WebhookRequest,
    json_body,
    register_channel,
    same,
)
from server.channels.delivery import SendError, call

API = "https://api.line.me"
REPLY_TOKEN_SECONDS = 50  # reply tokens are short-lived: after this, push instead


@register_channel("line")
class LineChannel(BaseChannel):
    """A LINE Official Account's Messaging API channel."""

    required = ("channel_secret", "channel_access_token")
    optional = {"api_base": API}
    max_chars = 5000

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

    async def post(self, reply: OutboundReply) -> None:
        """Reply with the event's replyToken while it is fresh, else (or if refused) push."""
        headers = {"Authorization": f"Bearer {self.config['channel_access_token']}"}
        messages = [{"type": "text", "text": self.format(reply)}]
        token = reply.to.address.get("reply_token")
        if token and self.clock() - reply.to.received_at < REPLY_TOKEN_SECONDS:
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
        # the retry key makes LINE drop a second push of the same reply
        headers["X-Line-Retry-Key"] = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"frontdesk:{reply.reply_id}")
        )
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

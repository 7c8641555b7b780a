"""Slack Events API: v0 signatures, url_verification, message/app_mention, chat.postMessage."""

from __future__ import annotations

import re

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

API = "https://slack.com/api"
MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


@register_channel("slack")
class SlackChannel(BaseChannel):
    """A Slack app; set the Events API request URL to the webhook URL."""

    required = ("signing_secret", "bot_token")
    optional = {"api_base": API, "bot_user_id": "", "reply_in_thread": ""}
    max_chars = 39000

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
        payload = json_body(request.body)
        if payload.get("type") == "url_verification":
            return WebhookAnswer(body=str(payload.get("challenge", "")))
        return None

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """User-written `message` and `app_mention` events; bots (us included) are ignored."""
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

    async def post(self, reply: OutboundReply) -> None:
        """chat.postMessage into the channel (in the thread when reply_in_thread is set)."""
        body = {"channel": reply.to.address["channel"], "text": self.format(reply)}
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

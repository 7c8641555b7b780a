"""Telegram Bot API webhooks: secret-token header, `message` updates, sendMessage."""

from __future__ import annotations

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
from server.channels.voice_media import telegram_audio
from server.voice_store import PLACEHOLDER

API = "https://api.telegram.org"


@register_channel("telegram")
class TelegramChannel(BaseChannel):
    """A Telegram bot; register the webhook with setWebhook(url, secret_token)."""

    required = ("bot_token", "secret_token")
    optional = {"api_base": API}
    generated = ("secret_token",)
    max_chars = 4096

    def verify(self, request: WebhookRequest) -> None:
        """Compare X-Telegram-Bot-Api-Secret-Token with the configured secret in constant time."""
        given = request.header("x-telegram-bot-api-secret-token")
        if not given or not same(str(self.config["secret_token"]), given):
            raise SignatureError("bad or missing X-Telegram-Bot-Api-Secret-Token")

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """A text `message` update as one InboundMessage (deduplicated by update_id)."""
        update = json_body(request.body)
        message = update.get("message")
        if not isinstance(message, dict):
            return []
        audio = telegram_audio(message)
        if not isinstance(message.get("text"), str) and audio is None:
            return []  # edited messages, photos, stickers, callbacks, member updates…
        sender = message.get("from") or {}
        if sender.get("is_bot") or "update_id" not in update:
            return []
        chat_id = message.get("chat", {}).get("id")
        return [
            InboundMessage(
                bot=self.bot,
                channel=self.kind,
                user_id=str(sender.get("id", chat_id)),
                message_id=str(update["update_id"]),
                text=message.get("text") or PLACEHOLDER,
                audio=audio,
                locale=sender.get("language_code"),
                address={"chat_id": chat_id},
            )
        ]

    async def post(self, reply: OutboundReply) -> None:
        """Call sendMessage for the chat the message came from."""
        url = f"{self.config['api_base']}/bot{self.config['bot_token']}/sendMessage"
        body = {"chat_id": reply.to.address["chat_id"], "text": self.format(reply)}
        response = await call(
            self.http, "POST", url, json=body, policy=self.retry, what="telegram sendMessage"
        )
        if not response.json().get("ok"):
            raise SendError(f"telegram sendMessage refused: {response.text[:200]}")

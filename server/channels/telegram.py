"""Telegram Bot API webhooks: secret-token header, `message` and `callback_query` updates,
sendMessage with inline keyboards."""

from __future__ import annotations

import json
from typing import Any

from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    SignatureError,
    WebhookAnswer,
    WebhookRequest,
    json_body,
    register_channel,
    same,
)
from server.channels.delivery import SendError, call
from server.channels.survey import TEXTS, language, parse_thumb, thumb_data
from server.channels.voice_media import telegram_audio
from server.voice_store import PLACEHOLDER

API = "https://api.telegram.org"
CALLBACK_DATA_BYTES = 64  # InlineKeyboardButton.callback_data: 1-64 bytes


@register_channel("telegram")
class TelegramChannel(BaseChannel):
    """A Telegram bot; register the webhook with setWebhook(url, secret_token)."""

    required = ("bot_token", "secret_token")
    optional = {"api_base": API}
    generated = ("secret_token",)
    max_chars = 4096  # sendMessage text: 1-4096 characters (UTF-16 code units)

    def verify(self, request: WebhookRequest) -> None:
        """Compare X-Telegram-Bot-Api-Secret-Token with the configured secret in constant time."""
        given = request.header("x-telegram-bot-api-secret-token")
        if not given or not same(str(self.config["secret_token"]), given):
            raise SignatureError("bad or missing X-Telegram-Bot-Api-Secret-Token")

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """A text or voice `message`, or a button's `callback_query` (deduplicated by update_id)."""
        update = json_body(request.body)
        if "update_id" not in update:
            return []
        if isinstance(update.get("callback_query"), dict):
            return self._callback(update["update_id"], update["callback_query"])
        message = update.get("message")
        if not isinstance(message, dict):
            return []
        audio = telegram_audio(message)
        if not isinstance(message.get("text"), str) and audio is None:
            return []  # edited messages, photos, stickers, member updates…
        sender = message.get("from") or {}
        if sender.get("is_bot"):
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

    def _callback(self, update_id: Any, query: dict[str, Any]) -> list[InboundMessage]:
        """An inline-keyboard press: the customer says the button's payload (its callback_data)."""
        sender = query.get("from") or {}
        data = query.get("data")
        if not isinstance(data, str) or not data.strip() or "id" not in sender or sender.get("is_bot"):
            return []  # game buttons, malformed updates
        chat_id = ((query.get("message") or {}).get("chat") or {}).get("id", sender["id"])
        return [
            InboundMessage(
                bot=self.bot,
                channel=self.kind,
                user_id=str(sender["id"]),
                message_id=str(update_id),
                text=data,
                locale=sender.get("language_code"),
                address={"chat_id": chat_id, "callback_query_id": str(query.get("id", ""))},
            )
        ]

    def ack(self, request: WebhookRequest) -> WebhookAnswer:
        """A button press is answered with answerCallbackQuery in the webhook's HTTP answer
        (which stops the button's spinner); any other update gets a plain 200."""
        query = json_body(request.body).get("callback_query")
        if isinstance(query, dict) and query.get("id"):
            body = {"method": "answerCallbackQuery", "callback_query_id": str(query["id"])}
            if isinstance(query.get("data"), str) and parse_thumb(query["data"]):  # a toast thanks for a thumb
                lang = language((query.get("from") or {}).get("language_code"))
                body["text"] = TEXTS[lang]["thumb_thanks"]
            return WebhookAnswer(body=json.dumps(body, ensure_ascii=False), media_type="application/json")
        return WebhookAnswer()

    def native_buttons(self, reply: OutboundReply) -> bool:
        """Telegram always shows buttons: an inline keyboard, or a reply keyboard (see keyboard)."""
        return True

    @staticmethod
    def keyboard(buttons: list[dict[str, str]]) -> dict[str, Any]:
        """An inline keyboard (one button a row) whose callback_data is each payload; when a
        payload is over 64 bytes, a one-time reply keyboard whose buttons send their titles."""
        if all(len(b["payload"].encode()) <= CALLBACK_DATA_BYTES for b in buttons):
            rows = [[{"text": b["title"], "callback_data": b["payload"]}] for b in buttons]
            return {"inline_keyboard": rows}
        return {
            "keyboard": [[{"text": b["title"]}] for b in buttons],
            "one_time_keyboard": True,
            "resize_keyboard": True,
        }

    def rated(self, reply: OutboundReply) -> bool:
        """Whether the reply gets 👍/👎 buttons (the bot's channel_thumbs setting, a rateable reply)."""
        return self.thumbs and reply.rateable

    def markup(self, reply: OutboundReply) -> dict[str, Any]:
        """The keyboard of a reply's last part: its buttons, then a 👍/👎 row on an inline keyboard."""
        markup = self.keyboard(reply.quick_replies) if reply.quick_replies else {"inline_keyboard": []}
        if self.rated(reply) and "inline_keyboard" in markup:  # a reply keyboard cannot mix in callbacks
            markup["inline_keyboard"].append(
                [
                    {"text": "👍", "callback_data": thumb_data(1, reply.reply_id)},
                    {"text": "👎", "callback_data": thumb_data(-1, reply.reply_id)},
                ]
            )
        return markup

    async def post_part(self, reply: OutboundReply, text: str, last: bool) -> None:
        """sendMessage to the chat the message came from; the buttons go with the last part."""
        url = f"{self.config['api_base']}/bot{self.config['bot_token']}/sendMessage"
        body: dict[str, Any] = {"chat_id": reply.to.address["chat_id"], "text": text}
        if last and (reply.quick_replies or self.rated(reply)):
            body["reply_markup"] = self.markup(reply)
        response = await call(
            self.http, "POST", url, json=body, policy=self.retry, what="telegram sendMessage"
        )
        if not response.json().get("ok"):
            raise SendError(f"telegram sendMessage refused: {response.text[:200]}")

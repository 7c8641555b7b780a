"""Meta webhooks: WhatsApp Cloud API and Messenger (hub.* setup, X-Hub-Signature-256, Graph API).

Quick replies: WhatsApp gets reply buttons (at most 3, titles up to 20 characters) or else a list
message (at most 10 rows, titles up to 24, the full title in the row's description when cut);
Messenger gets `quick_replies` (at most 13, titles up to 20). More buttons than that: numbered lines.
"""

from __future__ import annotations

from typing import Any

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
from server.channels.delivery import call
from server.channels.voice_media import whatsapp_audio
from server.voice_store import PLACEHOLDER

GRAPH = "https://graph.facebook.com"
WHATSAPP_TEXT, WHATSAPP_INTERACTIVE_BODY, MESSENGER_TEXT = 4096, 1024, 2000
WA_BUTTONS, WA_BUTTON_TITLE, WA_BUTTON_ID = 3, 20, 256
WA_ROWS, WA_ROW_TITLE, WA_ROW_DESCRIPTION, WA_ROW_ID = 10, 24, 72, 200
WA_LIST_BUTTON = 20  # a list message's button text
FB_QUICK_REPLIES, FB_TITLE, FB_PAYLOAD = 13, 20, 1000


@register_channel("meta")
class MetaChannel(BaseChannel):
    """One Meta app: WhatsApp Business numbers and/or Messenger pages subscribed to its webhook."""

    required = ("app_secret", "verify_token", "access_token")
    optional = {"api_base": GRAPH, "graph_version": "v21.0"}
    generated = ("verify_token",)
    max_chars = MESSENGER_TEXT  # per recipient: see text_limit

    def verify(self, request: WebhookRequest) -> None:
        """POST: X-Hub-Signature-256 = sha256=HMAC(app_secret, body); GET: see handshake."""
        if request.method == "GET":
            return
        expected = "sha256=" + hmac_hex(self.secret("app_secret"), request.body)
        if not same(expected, request.header("x-hub-signature-256")):
            raise SignatureError("bad X-Hub-Signature-256")

    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        """The subscription GET: echo hub.challenge when hub.verify_token matches, else 403."""
        if request.method != "GET":
            return None
        token = request.query.get("hub.verify_token", "")
        if request.query.get("hub.mode") != "subscribe" or not same(
            str(self.config["verify_token"]), token
        ):
            raise SignatureError("bad hub.verify_token")
        return WebhookAnswer(body=request.query.get("hub.challenge", ""))

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """Text messages of a WhatsApp (`whatsapp_business_account`) or Messenger (`page`) post."""
        payload = json_body(request.body)
        entries = payload.get("entry") or []
        if payload.get("object") == "whatsapp_business_account":
            return [m for e in entries for c in e.get("changes", []) for m in self._whatsapp(c)]
        if payload.get("object") == "page":
            return [
                m for e in entries for ev in e.get("messaging", []) for m in self._messenger(ev)
            ]
        return []

    def _whatsapp(self, change: dict[str, Any]) -> list[InboundMessage]:
        value = change.get("value") or {}
        phone_id = (value.get("metadata") or {}).get("phone_number_id")
        out = []
        for m in value.get("messages") or []:  # `statuses` (sent/delivered/read) carry no messages
            audio = whatsapp_audio(m)
            text = PLACEHOLDER if audio is not None else whatsapp_text(m)
            if text is not None and "from" in m and "id" in m:
                out.append(
                    InboundMessage(
                        bot=self.bot,
                        channel=self.kind,
                        user_id=f"wa:{m['from']}",
                        message_id=m["id"],
                        text=text,
                        audio=audio,
                        address={
                            "product": "whatsapp",
                            "phone_number_id": phone_id,
                            "to": m["from"],
                        },
                    )
                )
        return out

    def _messenger(self, event: dict[str, Any]) -> list[InboundMessage]:
        message = event.get("message") or {}
        if (
            message.get("is_echo")
            or not isinstance(message.get("text"), str)
            or "mid" not in message
        ):
            return []  # our own echoes, deliveries, reads, postbacks, attachments
        sender = (event.get("sender") or {}).get("id", "")
        payload = (message.get("quick_reply") or {}).get("payload")  # a tapped quick reply
        return [
            InboundMessage(
                bot=self.bot,
                channel=self.kind,
                user_id=f"fb:{sender}",
                message_id=message["mid"],
                text=payload if isinstance(payload, str) and payload.strip() else message["text"],
                address={
                    "product": "messenger",
                    "to": sender,
                    "page_id": (event.get("recipient") or {}).get("id"),
                },
            )
        ]

    def text_limit(self, reply: OutboundReply) -> int:
        """WhatsApp text bodies hold 4,096 characters, Messenger texts 2,000."""
        return WHATSAPP_TEXT if _whatsapp(reply) else MESSENGER_TEXT

    def button_limit(self, reply: OutboundReply) -> int:
        """A WhatsApp interactive message's body holds 1,024 characters."""
        return WHATSAPP_INTERACTIVE_BODY if _whatsapp(reply) else MESSENGER_TEXT

    def native_buttons(self, reply: OutboundReply) -> bool:
        """Up to 10 buttons on WhatsApp (buttons or a list), up to 13 on Messenger."""
        return len(reply.quick_replies) <= (WA_ROWS if _whatsapp(reply) else FB_QUICK_REPLIES)

    async def post_part(self, reply: OutboundReply, text: str, last: bool) -> None:
        """POST one message to the Graph API messages endpoint of the number or page."""
        address = reply.to.address
        base = f"{self.config['api_base']}/{self.config['graph_version']}"
        buttons = reply.quick_replies if last and self.native_buttons(reply) else []
        if address["product"] == "whatsapp":
            url = f"{base}/{address['phone_number_id']}/messages"
            body: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": address["to"],
                **(whatsapp_interactive(text, buttons, reply.menu_label) if buttons else whatsapp_text_body(text)),
            }
        else:
            url = f"{base}/me/messages"
            message: dict[str, Any] = {"text": text}
            if buttons:
                message["quick_replies"] = messenger_quick_replies(buttons)
            body = {
                "recipient": {"id": address["to"]},
                "messaging_type": "RESPONSE",
                "message": message,
            }
        headers = {"Authorization": f"Bearer {self.config['access_token']}"}
        await call(
            self.http,
            "POST",
            url,
            json=body,
            headers=headers,
            policy=self.retry,
            what=f"meta {address['product']} send",
        )


def _whatsapp(reply: OutboundReply) -> bool:
    return reply.to.address.get("product") == "whatsapp"


def whatsapp_text(message: dict[str, Any]) -> str | None:
    """What a WhatsApp message says: its text body, or the id of the reply button or list row
    the customer chose (our ids are the payloads, or button numbers); None for anything else."""
    kind = message.get("type")
    if kind == "text":
        body = (message.get("text") or {}).get("body")
        return body if isinstance(body, str) else None
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        chosen = interactive.get(str(interactive.get("type"))) or {}
        if interactive.get("type") in ("button_reply", "list_reply") and isinstance(chosen.get("id"), str):
            return chosen["id"]
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        value = button.get("payload") or button.get("text")
        return value if isinstance(value, str) else None
    return None


def whatsapp_text_body(text: str) -> dict[str, Any]:
    """A plain WhatsApp text message."""
    return {"type": "text", "text": {"preview_url": False, "body": text}}


def whatsapp_interactive(text: str, buttons: list[dict[str, str]], label: str = "") -> dict[str, Any]:
    """Reply buttons when there are at most 3 with short titles, else a list message (its button
    says `label`, or "Options"/"选项")."""
    if len(buttons) <= WA_BUTTONS and all(len(b["title"]) <= WA_BUTTON_TITLE for b in buttons):
        ids = qr.ids(buttons, WA_BUTTON_ID)
        action: dict[str, Any] = {
            "buttons": [
                {"type": "reply", "reply": {"id": i, "title": b["title"]}}
                for i, b in zip(ids, buttons, strict=True)
            ]
        }
        kind = "button"
    else:
        rows = []
        for i, b in zip(qr.ids(buttons, WA_ROW_ID), buttons, strict=True):
            row = {"id": i, "title": qr.fit(b["title"], WA_ROW_TITLE)}
            if row["title"] != b["title"]:
                row["description"] = qr.fit(b["title"], WA_ROW_DESCRIPTION)
            rows.append(row)
        label = qr.fit(label, WA_LIST_BUTTON) if label else "选项" if qr.is_cjk(text) else "Options"
        action = {"button": label, "sections": [{"rows": rows}]}
        kind = "list"
    return {"type": "interactive", "interactive": {"type": kind, "body": {"text": text}, "action": action}}


def messenger_quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Messenger text quick replies: the title (cut to 20 characters) and the payload."""
    return [
        {"content_type": "text", "title": qr.fit(b["title"], FB_TITLE), "payload": b["payload"][:FB_PAYLOAD]}
        for b in buttons
    ]

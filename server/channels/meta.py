"""Meta webhooks: WhatsApp Cloud API and Messenger (hub.* setup, X-Hub-Signature-256, Graph API)."""

from __future__ import annotations

from typing import Any

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


@register_channel("meta")
class MetaChannel(BaseChannel):
    """One Meta app: WhatsApp Business numbers and/or Messenger pages subscribed to its webhook."""

    required = ("app_secret", "verify_token", "access_token")
    optional = {"api_base": GRAPH, "graph_version": "v21.0"}
    generated = ("verify_token",)
    max_chars = 2000  # Messenger's limit; WhatsApp allows 4096

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
            if audio is not None or (m.get("type") == "text" and isinstance((m.get("text") or {}).get("body"), str)):
                out.append(
                    InboundMessage(
                        bot=self.bot,
                        channel=self.kind,
                        user_id=f"wa:{m['from']}",
                        message_id=m["id"],
                        text=m["text"]["body"] if audio is None else PLACEHOLDER,
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
        return [
            InboundMessage(
                bot=self.bot,
                channel=self.kind,
                user_id=f"fb:{sender}",
                message_id=message["mid"],
                text=message["text"],
                address={
                    "product": "messenger",
                    "to": sender,
                    "page_id": (event.get("recipient") or {}).get("id"),
                },
            )
        ]

    async def post(self, reply: OutboundReply) -> None:
        """POST to the Graph API messages endpoint of the number or page."""
        address = reply.to.address
        base = f"{self.config['api_base']}/{self.config['graph_version']}"
        text = self.format(reply)
        if address["product"] == "whatsapp":
            url = f"{base}/{address['phone_number_id']}/messages"
            body: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": address["to"],
                "type": "text",
                "text": {"preview_url": False, "body": text},
            }
        else:
            url = f"{base}/me/messages"
            body = {
                "recipient": {"id": address["to"]},
                "messaging_type": "RESPONSE",
                "message": {"text": text},
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

"""WeChat Official Account: SHA-1 signatures, XML messages, passive replies, customer-service API.

Plaintext and "safe mode" (`encrypt_type=aes`, `msg_signature`, AES-256-CBC) are both accepted.
A reply ready within `passive_seconds` goes back in the HTTP answer (WeChat allows 5 s);
otherwise the answer is `success` and the reply follows through the customer-service API.
A text message holds 2,048 bytes of UTF-8 (about 680 Chinese characters): a longer reply is split,
its first part goes passively and the rest through the customer-service API, at most 5 parts
(WeChat allows 5 customer-service messages per customer message). WeChat has no buttons: quick
replies become numbered lines ("回复 1：…"), and an answer "1" picks the first
(server/channels/buttons.py).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    SignatureError,
    WebhookAnswer,
    WebhookRequest,
    register_channel,
    same,
)
from server.channels.delivery import SendError, call
from server.channels.splitting import utf8_bytes
from server.channels.voice_media import wechat_voice
from server.channels.wechat_crypto import WeChatCrypto, cdata, sha1_signature
from server.errors import BadRequest
from server.voice_store import PLACEHOLDER

API = "https://api.weixin.qq.com"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid or expired access_token


def parse_xml(body: bytes) -> dict[str, str]:
    """The child elements of a WeChat `<xml>` body as a dict; DTDs and entities are refused."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise BadRequest("XML with a DTD is not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise BadRequest("body is not valid XML") from None
    return {child.tag: (child.text or "") for child in root}


@register_channel("wechat")
class WeChatChannel(BaseChannel):
    """A WeChat Official Account (plaintext, compatible or safe mode)."""

    required = ("token", "appid", "appsecret")
    optional = {"api_base": API, "encoding_aes_key": "", "passive_seconds": "4.0"}
    max_chars = 2048  # text Content, passive or customer-service: 2,048 bytes of UTF-8
    max_parts = 5  # customer-service messages allowed per customer message

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Also refuse an EncodingAESKey that is not 43 characters."""
        super().check_config(config)
        key = str(config.get("encoding_aes_key") or "")
        if key and len(key) != 43:
            raise BadRequest("encoding_aes_key must be the 43-character EncodingAESKey")

    def __init__(self, config: Any, **options: Any) -> None:
        super().__init__(config, **options)
        key = str(self.config.get("encoding_aes_key") or "")
        self.crypto = (
            WeChatCrypto(str(self.config["token"]), key, str(self.config["appid"])) if key else None
        )
        self.passive_timeout = float(self.config["passive_seconds"])
        self._access_token: tuple[str, float] | None = None

    def measure(self, text: str) -> int:
        """WeChat counts a text message's Content in UTF-8 bytes."""
        return utf8_bytes(text)

    def verify(self, request: WebhookRequest) -> None:
        """`signature` = sha1(sorted token, timestamp, nonce); in safe mode also `msg_signature`."""
        q = request.query
        expected = sha1_signature(
            str(self.config["token"]), q.get("timestamp", ""), q.get("nonce", "")
        )
        if not same(expected, q.get("signature", "")):
            raise SignatureError("bad WeChat signature")
        self.check_fresh(q.get("timestamp", ""), 300)
        if request.method == "POST" and q.get("encrypt_type") == "aes":
            crypto = self._crypto()
            crypto.check(
                q.get("msg_signature", ""),
                q["timestamp"],
                q.get("nonce", ""),
                self._encrypted(request),
            )

    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        """The setup GET: echo echostr (already verified by its signature)."""
        if request.method != "GET":
            return None
        return WebhookAnswer(body=request.query.get("echostr", ""))

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """A text message, or a voice message with speech recognition; events are ignored."""
        fields = self._fields(request)
        kind = fields.get("MsgType")
        audio = wechat_voice(fields)
        text = fields.get("Content") if kind == "text" else (audio["recognition"] or PLACEHOLDER) if audio else None
        if not text or not fields.get("MsgId"):
            return []  # subscribe/unsubscribe/menu events, images…
        return [
            InboundMessage(
                bot=self.bot,
                channel=self.kind,
                user_id=fields["FromUserName"],
                message_id=fields["MsgId"],
                text=text,
                audio=audio,
                address={
                    "openid": fields["FromUserName"],
                    "account": fields.get("ToUserName", ""),
                    "aes": request.query.get("encrypt_type") == "aes",
                    "nonce": request.query.get("nonce", ""),
                },
            )
        ]

    def ack(self, request: WebhookRequest) -> WebhookAnswer:
        """`success`: WeChat then waits for no passive reply and does not retry."""
        return WebhookAnswer(body="success")

    def passive(self, reply: OutboundReply) -> WebhookAnswer:
        """The reply's first part as a passive XML answer (To/From swapped), encrypted in safe mode.

        The caller sends any further parts through the customer-service API (send_claimed, start=1).
        """
        to = reply.to.address
        xml = (
            f"<xml><ToUserName>{cdata(to['openid'])}</ToUserName><FromUserName>{cdata(to['account'])}"
            f"</FromUserName><CreateTime>{int(self.clock())}</CreateTime><MsgType>{cdata('text')}</MsgType>"
            f"<Content>{cdata(self.format(reply)[0])}</Content></xml>"
        )
        if to.get("aes"):
            xml = self._crypto().envelope(
                xml, to.get("nonce") or "frontdesk", str(int(self.clock()))
            )
        return WebhookAnswer(body=xml, media_type="application/xml")

    async def post_part(self, reply: OutboundReply, text: str, last: bool) -> None:
        """Send one part through the customer-service message API (within 48 h of the user's message)."""
        body = {
            "touser": reply.to.address["openid"],
            "msgtype": "text",
            "text": {"content": text},
        }
        for fresh in (False, True):
            token = await self._token(refresh=fresh)
            response = await call(
                self.http,
                "POST",
                f"{self.config['api_base']}/cgi-bin/message/custom/send",
                params={"access_token": token},
                json=body,
                policy=self.retry,
                what="wechat custom/send",
            )
            errcode = response.json().get("errcode", 0)
            if errcode == 0:
                return
            if errcode not in TOKEN_ERRORS:
                break
        raise SendError(f"wechat custom/send refused: errcode {errcode}")

    async def _token(self, refresh: bool = False) -> str:
        """The cached access_token, fetched again when expired or refused."""
        if self._access_token and not refresh and self._access_token[1] > time.time():
            return self._access_token[0]
        params = {
            "grant_type": "client_credential",
            "appid": self.config["appid"],
            "secret": self.config["appsecret"],
        }
        response = await call(
            self.http,
            "GET",
            f"{self.config['api_base']}/cgi-bin/token",
            params=params,
            policy=self.retry,
            what="wechat token",
        )
        data = response.json()
        if "access_token" not in data:
            raise SendError(f"wechat token refused: errcode {data.get('errcode')}")
        self._access_token = (
            data["access_token"],
            time.time() + int(data.get("expires_in", 7200)) - 300,
        )
        return data["access_token"]

    def _crypto(self) -> WeChatCrypto:
        if self.crypto is None:
            raise SignatureError("safe-mode message but no encoding_aes_key is configured")
        return self.crypto

    def _encrypted(self, request: WebhookRequest) -> str:
        encrypted = parse_xml(request.body).get("Encrypt")
        if not encrypted:
            raise SignatureError("safe-mode message without an Encrypt field")
        return encrypted

    def _fields(self, request: WebhookRequest) -> dict[str, str]:
        if request.query.get("encrypt_type") == "aes":
            return parse_xml(self._crypto().decrypt(self._encrypted(request)).encode())
        return parse_xml(request.body)

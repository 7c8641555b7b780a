"""WeChat "safe mode" message crypto (WXBizMsgCrypt): SHA-1 signatures and AES-256-CBC envelopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from server.channels.base import SignatureError
from server.errors import BadRequest

BLOCK = 32  # WeChat pads PKCS#7-style to 32 bytes, not AES's 16


def sha1_signature(*parts: str) -> str:
    """Hex SHA-1 of the parts sorted lexicographically and joined (WeChat's signature scheme)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def cdata(text: str) -> str:
    """Text as a CDATA section (a literal ']]>' is split across two sections)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeChatCrypto:
    """Encrypts and decrypts message bodies for one Official Account."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        if len(encoding_aes_key) != 43:
            raise BadRequest("encoding_aes_key must be the 43-character EncodingAESKey")
        try:
            self.key = base64.b64decode(encoding_aes_key + "=")
        except ValueError:
            raise BadRequest("encoding_aes_key is not valid base64") from None
        self.token = token
        self.appid = appid

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, text: str, random16: bytes | None = None) -> str:
        """Base64 AES-CBC of 16 random bytes + 4-byte big-endian length + text + appid (pad 32)."""
        raw = text.encode()
        plain = (
            (random16 or os.urandom(16)) + struct.pack(">I", len(raw)) + raw + self.appid.encode()
        )
        pad = BLOCK - len(plain) % BLOCK
        encryptor = self._cipher().encryptor()
        return base64.b64encode(
            encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
        ).decode()

    def decrypt(self, encrypted: str) -> str:
        """The text inside an envelope; refuses bad padding or another account's appid."""
        try:
            data = base64.b64decode(encrypted)
            decryptor = self._cipher().decryptor()
            plain = decryptor.update(data) + decryptor.finalize()
        except ValueError:
            raise SignatureError("undecryptable Encrypt field") from None
        pad = plain[-1] if plain else 0
        if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
            raise SignatureError("bad padding in Encrypt field")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        text, appid = plain[20 : 20 + length], plain[20 + length :]
        if appid.decode(errors="replace") != self.appid:
            raise SignatureError("Encrypt field is for another appid")
        return text.decode()

    def check(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        """Raise SignatureError unless msg_signature signs the encrypted text."""
        expected = sha1_signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), msg_signature.encode()):  # str: ASCII only, else TypeError
            raise SignatureError("bad msg_signature")

    def envelope(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        """A passive reply in safe mode: the encrypted XML with its msg_signature."""
        timestamp = timestamp or str(int(time.time()))
        encrypted = self.encrypt(xml)
        signature = sha1_signature(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
        )

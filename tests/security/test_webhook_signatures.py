"""Webhook signature bypasses: each attempt is refused with 403 `bad_signature` before any parsing.

Missing, empty and wrong-case values, a body changed after signing, stale or non-numeric
timestamps (replays), another secret, and odd characters in signature fields. One test drives the
real route to show that a refused delivery stores nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.app import create_app
from server.channels.base import SignatureError, WebhookRequest, create_channel, hmac_hex
from server.channels.generic import sign
from server.channels.wechat_crypto import WeChatCrypto, sha1_signature
from server.tables import Message
from tests.security.conftest import CHANNEL_SETTINGS, Deployment

NOW = 1_700_000_000.0
TS = str(int(NOW))
BODY = json.dumps({"id": "m1", "user": "u1", "text": "hello"}).encode()


def channel(kind: str):  # type: ignore[no-untyped-def]
    return create_channel(kind.split("_")[0], CHANNEL_SETTINGS[kind], bot="acme", clock=lambda: NOW)


def post(body: bytes, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", {k.lower(): v for k, v in (headers or {}).items()}, query or {}, body)


def slack_headers(body: bytes, ts: str = TS, secret: str = CHANNEL_SETTINGS["slack"]["signing_secret"]) -> dict:
    return {"X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + hmac_hex(secret.encode(), f"v0:{ts}:".encode() + body)}


def generic_headers(body: bytes, ts: str = TS, secret: str = CHANNEL_SETTINGS["generic"]["secret"]) -> dict:
    return {"X-Frontdesk-Timestamp": ts, "X-Frontdesk-Signature": sign(secret.encode(), ts, body)}


def meta_headers(body: bytes) -> dict:
    return {"X-Hub-Signature-256": "sha256=" + hmac_hex(CHANNEL_SETTINGS["meta"]["app_secret"].encode(), body)}


def line_headers(body: bytes) -> dict:
    mac = hmac.new(CHANNEL_SETTINGS["line"]["channel_secret"].encode(), body, hashlib.sha256).digest()
    return {"X-Line-Signature": base64.b64encode(mac).decode()}


def wechat_query(ts: str = TS, nonce: str = "n") -> dict:
    signature = sha1_signature(CHANNEL_SETTINGS["wechat"]["token"], ts, nonce)
    return {"timestamp": ts, "nonce": nonce, "signature": signature}


def test_the_genuine_signatures_pass() -> None:
    """The baseline: every refusal below differs from a request that passes in one detail only."""
    channel("telegram").verify(post(BODY, {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token"}))
    channel("slack").verify(post(BODY, slack_headers(BODY)))
    channel("generic").verify(post(BODY, generic_headers(BODY)))
    channel("meta").verify(post(BODY, meta_headers(BODY)))
    channel("line").verify(post(BODY, line_headers(BODY)))
    channel("wechat").verify(post(b"<xml/>", query=wechat_query()))


def _tampered(headers: dict[str, str], name: str, value: str | None) -> dict[str, str]:
    out = dict(headers)
    if value is None:
        out.pop(name)
    else:
        out[name] = value
    return out


SLACK_OK = slack_headers(BODY)
GENERIC_OK = generic_headers(BODY)
META_OK = meta_headers(BODY)
LINE_OK = line_headers(BODY)
CASES = [
    ("telegram", BODY, {}),
    ("telegram", BODY, {"X-Telegram-Bot-Api-Secret-Token": ""}),
    ("telegram", BODY, {"X-Telegram-Bot-Api-Secret-Token": "TG-SECRET-TOKEN"}),
    ("telegram", BODY, {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-token "}),
    ("slack", BODY, _tampered(SLACK_OK, "X-Slack-Signature", None)),
    ("slack", BODY, _tampered(SLACK_OK, "X-Slack-Signature", "")),
    ("slack", BODY, _tampered(SLACK_OK, "X-Slack-Request-Timestamp", None)),
    ("slack", BODY, _tampered(SLACK_OK, "X-Slack-Signature", SLACK_OK["X-Slack-Signature"].upper())),
    ("slack", BODY + b" ", SLACK_OK),
    ("slack", BODY, slack_headers(BODY, str(int(NOW) - 301))),  # a replay after the 5-minute window
    ("slack", BODY, slack_headers(BODY, str(int(NOW) + 301))),
    ("slack", BODY, slack_headers(BODY, "nan")),
    ("slack", BODY, slack_headers(BODY, "inf")),
    ("slack", BODY, slack_headers(BODY, secret="another-secret")),
    ("slack", BODY, _tampered(SLACK_OK, "X-Slack-Signature", "v0=é" + "0" * 63)),
    ("generic", BODY, _tampered(GENERIC_OK, "X-Frontdesk-Signature", None)),
    ("generic", BODY.replace(b"hello", b"HELLO"), GENERIC_OK),
    ("generic", BODY, generic_headers(BODY, str(int(NOW) - 3600))),
    ("generic", BODY, generic_headers(BODY, "NaN")),
    ("generic", BODY, _tampered(GENERIC_OK, "X-Frontdesk-Timestamp", str(int(NOW) + 1))),
    ("meta", BODY, {}),
    ("meta", BODY, {"X-Hub-Signature": "sha1=" + hmac.new(b"meta-app-secret", BODY, hashlib.sha1).hexdigest()}),
    ("meta", BODY, _tampered(META_OK, "X-Hub-Signature-256", META_OK["X-Hub-Signature-256"].upper())),
    ("meta", BODY + b"\n", META_OK),
    ("line", BODY, {}),
    ("line", b'{"events": []}', LINE_OK),
]


@pytest.mark.parametrize(("kind", "body", "headers"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_bad_or_missing_signature_is_refused(kind: str, body: bytes, headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as refused:
        channel(kind).verify(post(body, headers))
    assert refused.value.status == 403 and refused.value.code == "bad_signature"


@pytest.mark.parametrize(
    "query",
    [
        {},
        {**wechat_query(), "signature": ""},
        {**wechat_query(), "signature": wechat_query()["signature"].upper()},
        wechat_query(ts=str(int(NOW) - 301)),
        {**wechat_query(), "nonce": "other"},
        wechat_query(ts="nan"),
    ],
    ids=["none", "empty", "upper-case", "stale", "other-nonce", "nan-timestamp"],
)
def test_a_bad_wechat_signature_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        channel("wechat").verify(post(b"<xml/>", query=query))


def _aes_delivery(msg_signature: str | None = None, tamper: bool = False) -> WebhookRequest:
    config = CHANNEL_SETTINGS["wechat_aes"]
    crypto = WeChatCrypto(config["token"], config["encoding_aes_key"], config["appid"])
    encrypted = crypto.encrypt("<xml><MsgType>text</MsgType><Content>hi</Content></xml>")
    signature = sha1_signature(config["token"], TS, "n", encrypted)
    if tamper:
        encrypted = ("A" if encrypted[0] != "A" else "B") + encrypted[1:]
    sent = signature if msg_signature is None else msg_signature
    query = {**wechat_query(), "encrypt_type": "aes", "msg_signature": sent}
    return post(f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode(), query=query)


def test_wechat_safe_mode_checks_the_message_signature() -> None:
    channel("wechat_aes").verify(_aes_delivery())  # genuine
    for request in (_aes_delivery(tamper=True), _aes_delivery(msg_signature=""),
                    _aes_delivery(msg_signature="é" * 40)):
        with pytest.raises(SignatureError):
            channel("wechat_aes").verify(request)


def test_a_refused_delivery_through_the_route_stores_nothing(deployment: Deployment) -> None:
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    body = json.dumps({"update_id": 987654, "message": {"text": "forged", "from": {"id": 5}, "chat": {"id": 5}}})
    with TestClient(app, raise_server_exceptions=False) as client:
        path = deployment.channels["telegram"]
        for headers in ({}, {"x-telegram-bot-api-secret-token": "guess"}, {"X-TELEGRAM-BOT-API-SECRET-TOKEN": ""}):
            response = client.post(path, content=body, headers=headers)
            assert response.status_code == 403 and response.json()["error"]["code"] == "bad_signature"
        genuine = client.post(path, content=body, headers={"X-TELEGRAM-BOT-API-SECRET-TOKEN": "tg-secret-token"})
        assert genuine.status_code == 200  # header names are case-insensitive; values are not
    with Session(deployment.services.engine) as session:  # type: ignore[attr-defined]
        texts = [m.text for m in session.exec(select(Message).where(Message.text == "forged")).all()]
    assert texts == ["forged"]  # only the genuine delivery was stored

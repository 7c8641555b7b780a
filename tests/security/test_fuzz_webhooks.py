"""Hypothesis against every webhook parser: a signed but malformed delivery is a 4xx or ignored, never a 500.

The parsers run after the signature check, so these bodies are signed with the channel's secret:
they stand for a platform (or anyone holding the secret) sending something unexpected. Each parse
must return well-typed messages (strings where the database stores strings) or raise a
FrontdeskError with a 4xx status. The HTTP test then sends such bodies through the real route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from server.app import create_app
from server.channels.base import InboundMessage, WebhookRequest, create_channel, hmac_hex
from server.channels.generic import sign
from server.channels.wechat_crypto import WeChatCrypto, sha1_signature
from server.errors import FrontdeskError
from tests.security.conftest import CHANNEL_SETTINGS, Deployment
from tests.security.helpers import fuzz_examples

EXAMPLES = fuzz_examples(150)
NOW = 1_700_000_000.0
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
KEYS = st.sampled_from([
    "update_id", "message", "text", "from", "chat", "id", "is_bot", "language_code", "type", "event", "user",
    "bot_id", "subtype", "channel", "ts", "thread_ts", "challenge", "object", "entry", "changes", "value",
    "messages", "metadata", "phone_number_id", "body", "messaging", "sender", "recipient", "mid", "is_echo",
    "events", "replyToken", "source", "userId", "groupId", "locale", "x",
])
# JSON shaped like the platforms' payloads: their key names, any value types at any depth.
PAYLOADS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
XML_TAGS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Recognition", "Event", "x"]


@st.composite
def xml_bodies(draw: st.DrawFn) -> bytes:
    """WeChat-like XML: known tags with random text, sometimes broken markup or a DTD."""
    fields = draw(st.dictionaries(st.sampled_from(XML_TAGS), st.text(max_size=20), max_size=6))
    inner = "".join(f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>" for k, v in fields.items())
    body = draw(st.sampled_from([
        f"<xml>{inner}</xml>", f"<xml>{inner}", inner, "<!DOCTYPE x [<!ENTITY a 'b'>]><xml>&a;</xml>", "",
    ]))
    return body.encode("utf-8", "surrogatepass")


def _request(body: bytes, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", {k.lower(): v for k, v in (headers or {}).items()}, query or {}, body)


def signed(kind: str, body: bytes) -> WebhookRequest:
    """A POST carrying a valid signature of body for the channel `kind` of CHANNEL_SETTINGS."""
    config = CHANNEL_SETTINGS[kind]
    ts = str(int(NOW))
    if kind == "telegram":
        return _request(body, {"X-Telegram-Bot-Api-Secret-Token": config["secret_token"]})
    if kind == "slack":
        mac = hmac_hex(config["signing_secret"].encode(), b"v0:" + ts.encode() + b":" + body)
        return _request(body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"})
    if kind == "meta":
        return _request(body, {"X-Hub-Signature-256": "sha256=" + hmac_hex(config["app_secret"].encode(), body)})
    if kind == "line":
        digest = hmac.new(config["channel_secret"].encode(), body, hashlib.sha256).digest()
        return _request(body, {"X-Line-Signature": base64.b64encode(digest).decode()})
    if kind == "generic":
        return _request(body, {"X-Frontdesk-Timestamp": ts, "X-Frontdesk-Signature": sign(config["secret"].encode(),
                                                                                          ts, body)})
    query = {"timestamp": ts, "nonce": "n0nce", "signature": sha1_signature(config["token"], ts, "n0nce")}
    if kind == "wechat_aes":
        crypto = WeChatCrypto(config["token"], config["encoding_aes_key"], config["appid"])
        encrypted = crypto.encrypt(body.decode("utf-8", "replace"))
        query |= {"encrypt_type": "aes", "msg_signature": sha1_signature(config["token"], ts, "n0nce", encrypted)}
        body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    return _request(body, query=query)


def channel(kind: str) -> Any:
    return create_channel(kind.split("_")[0], CHANNEL_SETTINGS[kind], bot="acme", clock=lambda: NOW)


def well_typed(message: InboundMessage) -> bool:
    """What persisting needs: string ids and text, a string or no locale."""
    return (
        all(isinstance(v, str) for v in (message.user_id, message.message_id, message.text))
        and (message.locale is None or isinstance(message.locale, str))
    )


def parse_or_refuse(kind: str, request: WebhookRequest) -> None:
    """Verify and parse; the only acceptable failures are 4xx FrontdeskErrors."""
    target = channel(kind)
    try:
        target.verify(request)
        if target.handshake(request) is None:
            messages = target.parse(request)
            assert all(well_typed(m) for m in messages), messages
    except FrontdeskError as exc:
        assert 400 <= exc.status < 500, exc


JSON_KINDS = ["telegram", "slack", "meta", "line", "generic"]
BODIES: dict[str, Callable[[], st.SearchStrategy[bytes]]] = {
    **{k: lambda: PAYLOADS.map(lambda p: json.dumps(p).encode()) | st.binary(max_size=40) for k in JSON_KINDS},
    "wechat": xml_bodies,
    "wechat_aes": xml_bodies,
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_a_signed_malformed_delivery_is_refused_or_ignored_never_a_crash(kind: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES[kind]())
    def fuzz(body: bytes) -> None:
        parse_or_refuse(kind, signed(kind, body))

    fuzz()


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("telegram", {"update_id": 1, "message": {"text": "hi", "from": "not-an-object", "chat": 5}}),
        ("telegram", {"update_id": 1, "message": {"text": "hi", "from": {"id": 1, "language_code": {"x": 1}}}}),
        ("slack", {"type": "event_callback", "event": ["not", "an", "object"]}),
        ("meta", {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"messages": [
            {"type": "text", "text": {"body": "hi"}}]}}]}]}),
        ("meta", {"object": "page", "entry": "not-a-list"}),
        ("line", {"events": "not-a-list"}),
        ("line", {"events": [{"type": "message", "message": {"type": "text", "text": "hi"}}]}),
        ("generic", {"id": "1", "user": "u", "text": "hi", "locale": {"not": "a string"}}),
    ],
    ids=["tg-from-string", "tg-locale-object", "slack-event-list", "wa-no-from-id", "meta-entry-string",
         "line-events-string", "line-no-message-id", "generic-locale-object"],
)
def test_known_malformed_shapes_are_refused_or_ignored(kind: str, payload: dict[str, Any]) -> None:
    parse_or_refuse(kind, signed(kind, json.dumps(payload).encode()))


def test_wechat_text_without_a_sender_is_refused_or_ignored() -> None:
    body = b"<xml><MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>"
    parse_or_refuse("wechat", signed("wechat", body))


def test_wechat_safe_mode_refuses_undecodable_plaintext() -> None:
    config = CHANNEL_SETTINGS["wechat_aes"]
    crypto = WeChatCrypto(config["token"], config["encoding_aes_key"], config["appid"])
    raw = b"\xff\xfe not utf-8"
    plain = b"0123456789abcdef" + len(raw).to_bytes(4, "big") + raw + config["appid"].encode()
    pad = 32 - len(plain) % 32
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(crypto.key), modes.CBC(crypto.key[:16])).encryptor()
    encrypted = base64.b64encode(encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()).decode()
    ts = str(int(NOW))
    query = {"timestamp": ts, "nonce": "n", "signature": sha1_signature(config["token"], ts, "n"),
             "encrypt_type": "aes", "msg_signature": sha1_signature(config["token"], ts, "n", encrypted)}
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    parse_or_refuse("wechat_aes", _request(body, query=query))


# ---- through the HTTP route ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hook_client(deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(deployment.services.settings, deployment.services)  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["telegram", "generic", "line"])
def test_the_webhook_route_never_answers_5xx(kind: str, hook_client: TestClient, deployment: Deployment) -> None:
    path = deployment.channels[kind]

    @settings(max_examples=fuzz_examples(30), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES[kind]())
    def fuzz(body: bytes) -> None:
        request = signed(kind, body)
        headers = dict(request.headers)
        if kind == "generic":  # the route checks against the real clock
            ts = str(int(time.time()))
            headers["x-frontdesk-timestamp"] = ts
            headers["x-frontdesk-signature"] = sign(CHANNEL_SETTINGS["generic"]["secret"].encode(), ts, body)
        response = hook_client.post(path, content=body, headers=headers)
        assert response.status_code < 500, response.text

    fuzz()

"""WeChat Official Account: signatures, XML, passive replies, safe-mode AES, CS API."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import httpx
import pytest

from server.channels.base import SignatureError
from server.channels.wechat import parse_xml
from server.channels.wechat_crypto import WeChatCrypto, sha1_signature
from server.errors import BadRequest
from tests.channels.helpers import NOW, FakePlatform, get, make, post, reply_to

# The official WXBizMsgCrypt sample: token, EncodingAESKey, appid and one encrypted request.
TOKEN, AES_KEY, APPID = (
    "QDG6eK",
    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "wx5823bf96d3bd56c7",
)
SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE = (
    "477715d11cdb4164915debcba66cb864d751f3e6",
    "1409659813",
    "1372623149",
)
SAMPLE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvu"
    "JTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwG"
    "c2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9"
    "EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0"
    "lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
CONFIG = {"token": TOKEN, "appid": APPID, "appsecret": "app-secret", "encoding_aes_key": AES_KEY}
# A text message as in the Official Account "receiving messages" reference.
TEXT = (
    "<xml><ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[oUser_openid]]></FromUserName>"
    "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[退货政策是什么？]]></Content><MsgId>1234567890123456</MsgId></xml>"
)
VOICE = (
    "<xml><ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[oUser_openid]]></FromUserName>"
    "<CreateTime>1357290913</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[media_id]]>"
    "</MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition>"
    "<MsgId>1234567890123457</MsgId></xml>"
)
SUBSCRIBE = (
    "<xml><ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[oUser_openid]]></FromUserName>"
    "<CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[subscribe]]></Event></xml>"
)


def query(nonce: str = "nonce1", timestamp: str = str(int(NOW)), **extra: str) -> dict[str, str]:
    return {
        "signature": sha1_signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        **extra,
    }


def test_official_sample_verifies_and_decrypts() -> None:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    crypto.check(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
    fields = parse_xml(crypto.decrypt(SAMPLE_ENCRYPT).encode())
    assert fields["MsgType"] == "text" and fields["ToUserName"] == APPID and fields["Content"]
    with pytest.raises(SignatureError):
        crypto.check(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, "1372623150", SAMPLE_ENCRYPT)
    with pytest.raises(SignatureError, match="another appid"):
        WeChatCrypto(TOKEN, AES_KEY, "wx0000000000000000").decrypt(SAMPLE_ENCRYPT)


def test_aes_round_trip_pads_to_32_bytes() -> None:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    for text in ("", "a", "x" * 12, "中文消息" * 40):
        encrypted = crypto.encrypt(text)
        assert len(__import__("base64").b64decode(encrypted)) % 32 == 0
        assert crypto.decrypt(encrypted) == text
    with pytest.raises(BadRequest):
        WeChatCrypto(TOKEN, AES_KEY[:-1], APPID)


def test_setup_get_echoes_echostr_and_bad_signatures_fail() -> None:
    channel = make("wechat", CONFIG)
    request = get(query(echostr="5837397749804069"))
    channel.verify(request)
    assert channel.handshake(request).body == "5837397749804069"
    for bad in (
        {**query(), "signature": "0" * 40},
        query(timestamp=str(int(NOW) - 3600)),
        {**query(), "nonce": "other"},
    ):
        with pytest.raises(SignatureError):
            channel.verify(get(bad))


def test_plaintext_text_and_voice_are_parsed_and_events_ignored() -> None:
    channel = make("wechat", CONFIG)
    [text] = channel.parse(post(TEXT, query=query()))
    assert (text.user_id, text.message_id, text.text) == (
        "oUser_openid",
        "1234567890123456",
        "退货政策是什么？",
    )
    [voice] = channel.parse(post(VOICE, query=query()))
    assert voice.text == "腾讯微信团队"
    assert channel.parse(post(SUBSCRIBE, query=query())) == []
    with pytest.raises(BadRequest):
        parse_xml(b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>')


def test_plaintext_passive_reply_swaps_to_and_from() -> None:
    channel = make("wechat", CONFIG)
    [message] = channel.parse(post(TEXT, query=query()))
    answer = channel.passive(reply_to(message, "30 天内可退货 ]]> ok"))
    fields = parse_xml(answer.body.encode())
    assert (fields["ToUserName"], fields["FromUserName"], fields["MsgType"]) == (
        "oUser_openid",
        "gh_123",
        "text",
    )
    assert fields["Content"] == "30 天内可退货 ]]> ok" and answer.media_type == "application/xml"


def safe_request(plain: str, nonce: str = "n2") -> tuple[dict[str, str], bytes]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    encrypted = crypto.encrypt(plain)
    timestamp = str(int(NOW))
    q = query(
        nonce,
        timestamp,
        encrypt_type="aes",
        openid="oUser_openid",
        msg_signature=sha1_signature(TOKEN, timestamp, nonce, encrypted),
    )
    body = (
        "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    return q, body.encode()


def test_safe_mode_request_and_encrypted_passive_reply() -> None:
    channel = make("wechat", CONFIG)
    q, body = safe_request(TEXT)
    request = post(body, query=q)
    channel.verify(request)
    [message] = channel.parse(request)
    assert message.text == "退货政策是什么？" and message.address["aes"]
    with pytest.raises(SignatureError):
        channel.verify(post(body, query={**q, "msg_signature": "0" * 40}))
    answer = ET.fromstring(channel.passive(reply_to(message, "可以退货")).body)
    encrypted, signature = answer.findtext("Encrypt"), answer.findtext("MsgSignature")
    timestamp, nonce = answer.findtext("TimeStamp"), answer.findtext("Nonce")
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    crypto.check(signature, timestamp, nonce, encrypted)  # the reply's msg_signature verifies
    fields = parse_xml(crypto.decrypt(encrypted).encode())
    assert fields["Content"] == "可以退货" and fields["ToUserName"] == "oUser_openid"


def test_customer_service_send_fetches_and_refreshes_the_access_token() -> None:
    platform = FakePlatform(
        httpx.Response(200, json={"access_token": "AT1", "expires_in": 7200}),
        httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"}),
        httpx.Response(200, json={"access_token": "AT2", "expires_in": 7200}),
        httpx.Response(500),
        default={"errcode": 0, "errmsg": "ok"},
    )
    channel = make("wechat", CONFIG, platform)
    [message] = channel.parse(post(TEXT, query=query()))
    asyncio.run(channel.send(reply_to(message, "稍后回复")))
    paths = [(r.url.path, r.url.params.get("access_token")) for r in platform.requests]
    assert paths == [
        ("/cgi-bin/token", None),
        ("/cgi-bin/message/custom/send", "AT1"),
        ("/cgi-bin/token", None),
        ("/cgi-bin/message/custom/send", "AT2"),
        ("/cgi-bin/message/custom/send", "AT2"),
    ]
    assert platform.bodies()[-1] == {
        "touser": "oUser_openid",
        "msgtype": "text",
        "text": {"content": "稍后回复"},
    }


def test_long_reply_is_split_by_utf8_bytes_first_part_passive_rest_by_the_api() -> None:
    platform = FakePlatform(
        httpx.Response(200, json={"access_token": "AT", "expires_in": 7200}),
        default={"errcode": 0, "errmsg": "ok"},
    )
    channel = make("wechat", CONFIG, platform)
    [message] = channel.parse(post(TEXT, query=query()))
    text = "退货政策：收到商品后三十天内可以申请退货，商品需保持完好。" * 60  # ~5,000 bytes a paragraph
    reply = reply_to(message, text)
    parts = channel.format(reply)
    assert len(parts) == 3 and all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(parts) == text
    fields = parse_xml(channel.passive(reply).body.encode())
    assert fields["Content"] == parts[0]
    asyncio.run(channel.send_claimed(reply, start=1))  # what the service does after a passive answer
    assert [b["text"]["content"] for b in platform.bodies()] == parts[1:]


def test_at_most_five_parts_and_quick_replies_as_numbered_lines_in_chinese() -> None:
    channel = make("wechat", CONFIG)
    [message] = channel.parse(post(TEXT, query=query()))
    buttons = [{"title": "查询订单", "payload": "订单状态"}, {"title": "人工客服", "payload": "转人工"}]
    text = "很长的回答。" * 2000  # ~36 KB: more than 5 messages' worth
    parts = channel.format(reply_to(message, text, quick_replies=buttons))
    assert len(parts) == 5 and all(len(p.encode()) <= 2048 for p in parts)
    assert parts[-1].endswith("回复 1：查询订单\n回复 2：人工客服") and "…" in "".join(parts)
    [short] = channel.format(reply_to(message, "请选择：", quick_replies=buttons))
    assert short == "请选择：\n\n回复 1：查询订单\n回复 2：人工客服"

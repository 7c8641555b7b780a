"""Voice notes on Telegram, WhatsApp and WeChat: parse, download, answer, send audio back.

The platforms are faked by an httpx transport that answers by URL path (tests/channels/helpers.py
style), so every request the code makes is checked: the documented endpoints, tokens and bodies.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.voice import VoiceEngine
from bot.voice.audio import decode
from server.channels import voice_media
from server.chat import ChatService
from server.tables import Bot, Conversation, Message
from server.voice_turns import ChannelVoice, VoiceService
from tests.channels.helpers import make
from tests.server.voice_helpers import FakeSynthesizer, FakeTranscriber, voice_note

NOTE = voice_note(1.0, "ogg")


class Platform:
    """Answers by path; records (method, path, request)."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, str, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path, request))
        for suffix, answer in self.routes.items():
            if request.url.path.endswith(suffix):
                return answer(request) if callable(answer) else answer
        return httpx.Response(404, json={"error": "unexpected " + request.url.path})

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.calls]


def channel_on(kind: str, config: dict[str, Any], platform: Platform):  # type: ignore[no-untyped-def]
    channel = make(kind, config)
    channel.http = httpx.AsyncClient(transport=httpx.MockTransport(platform))
    return channel


def test_voice_notes_are_found_in_webhook_payloads() -> None:
    assert voice_media.telegram_audio({"voice": {"file_id": "F1", "duration": 3}}) == {
        "platform": "telegram", "file_id": "F1", "seconds": 3}
    assert voice_media.telegram_audio({"text": "hi"}) is None
    assert voice_media.whatsapp_audio({"type": "audio", "audio": {"id": "M1", "voice": True}})["media_id"] == "M1"
    assert voice_media.whatsapp_audio({"type": "text", "text": {"body": "x"}}) is None
    wechat = voice_media.wechat_voice({"MsgType": "voice", "MediaId": "W1", "Format": "amr", "Recognition": "你好"})
    assert wechat == {"platform": "wechat", "media_id": "W1", "format": "amr", "recognition": "你好"}
    assert voice_media.wechat_voice({"MsgType": "text", "Content": "x"}) is None


def test_downloads_follow_each_platform_and_refuse_oversized_or_json_answers() -> None:
    telegram = Platform({
        "/getFile": httpx.Response(
            200, json={"ok": True, "result": {"file_path": "voice/file_1.oga", "file_size": 10}}
        ),
        "/file_1.oga": httpx.Response(200, content=NOTE, headers={"content-type": "application/octet-stream"}),
    })
    channel = channel_on("telegram", {"bot_token": "123:abc", "secret_token": "s"}, telegram)
    data = asyncio.run(voice_media.download(channel, {"platform": "telegram", "file_id": "F1"}, 10**6))
    assert data == NOTE
    assert telegram.paths() == ["/bot123:abc/getFile", "/file/bot123:abc/voice/file_1.oga"]
    with pytest.raises(voice_media.MediaError, match="larger than"):
        asyncio.run(voice_media.download(channel, {"platform": "telegram", "file_id": "F1"}, 100))

    wechat = Platform({
        "/cgi-bin/token": httpx.Response(200, json={"access_token": "AT", "expires_in": 7200}),
        "/cgi-bin/media/get": httpx.Response(200, json={"errcode": 40007, "errmsg": "invalid media_id"}),
    })
    channel = channel_on("wechat", {"token": "t", "appid": "wx1", "appsecret": "sec"}, wechat)
    with pytest.raises(voice_media.MediaError, match="40007"):
        asyncio.run(voice_media.download(channel, {"platform": "wechat", "media_id": "bad"}, 10**6))


@pytest.fixture()
def shop(shop_services):  # type: ignore[no-untyped-def]
    """The shop bot, a conversation per channel and a VoiceService with fake models."""
    chat = ChatService(shop_services)
    engine = VoiceEngine(shop_services.settings.voice, shop_services.settings.data_dir / "models",
                         FakeTranscriber("what are your opening hours"), FakeSynthesizer())
    with Session(shop_services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
    return SimpleNamespace(services=shop_services, chat=chat, voice=VoiceService(chat, engine), bot=bot)


def conversation(shop, channel: str) -> Conversation:  # type: ignore[no-untyped-def]
    with Session(shop.services.engine, expire_on_commit=False) as session:
        row = Conversation(bot_id=shop.bot.id, channel=channel, external_user_id="u1")
        session.add(row)
        session.commit()
        return row


async def run_turn(shop, bot, conv, message):  # type: ignore[no-untyped-def]
    return (await shop.chat.turn(bot, conv, message.text, message.message_id)).reply


def stored(shop, conv: Conversation) -> list[Message]:  # type: ignore[no-untyped-def]
    with Session(shop.services.engine) as session:
        return list(session.exec(
            select(Message).where(Message.conversation_id == conv.id).order_by(Message.created_at)).all())


def test_telegram_voice_note_is_heard_answered_and_answered_in_voice(shop) -> None:  # type: ignore[no-untyped-def]
    telegram = Platform({
        "/getFile": httpx.Response(200, json={"ok": True, "result": {"file_path": "v/1.oga"}}),
        "/v/1.oga": httpx.Response(200, content=NOTE),
        "/sendMessage": httpx.Response(200, json={"ok": True}),
        "/sendVoice": httpx.Response(200, json={"ok": True}),
    })
    channel = channel_on("telegram", {"bot_token": "123:abc", "secret_token": "s"}, telegram)
    conv = conversation(shop, "telegram")
    message = SimpleNamespace(message_id="upd-1", text="[voice]", address={"chat_id": 42},
                              audio={"platform": "telegram", "file_id": "F1"})
    asyncio.run(ChannelVoice(shop.voice).answer(shop.bot, conv, channel, message,
                                                lambda b, c, m: run_turn(shop, b, c, m)))
    assert [p.rsplit("/", 1)[-1] for p in telegram.paths()] == ["getFile", "1.oga", "sendMessage", "sendVoice"]
    text = json.loads(telegram.calls[2][2].content)["text"]
    assert text.startswith("🎤 “what are your opening hours”")
    upload = telegram.calls[3][2].content
    assert b'name="chat_id"' in upload and b"42" in upload and b"OggS" in upload
    customer, reply = stored(shop, conv)
    assert customer.text == "what are your opening hours" and customer.status == "answered"
    assert reply.trace["voice"]["sent"] is True and reply.trace["voice"]["audio"].endswith(".ogg")


def test_wechat_voice_with_recognition_is_answered_in_voice_without_our_model(shop) -> None:  # type: ignore[no-untyped-def]
    wechat = Platform({
        "/cgi-bin/token": httpx.Response(200, json={"access_token": "AT", "expires_in": 7200}),
        "/cgi-bin/media/upload": httpx.Response(200, json={"type": "voice", "media_id": "MEDIA9"}),
        "/cgi-bin/message/custom/send": httpx.Response(200, json={"errcode": 0}),
    })
    channel = channel_on("wechat", {"token": "t", "appid": "wx1", "appsecret": "sec"}, wechat)
    conv = conversation(shop, "wechat")
    message = SimpleNamespace(
        message_id="wx-1", text="你们几点开门", address={"openid": "o1", "account": "gh"},
        audio={"platform": "wechat", "media_id": "W1", "format": "amr", "recognition": "你们几点开门"},
    )
    asyncio.run(ChannelVoice(shop.voice).answer(shop.bot, conv, channel, message,
                                                lambda b, c, m: run_turn(shop, b, c, m)))
    assert shop.voice.engine.transcriber().calls == 0  # type: ignore[attr-defined]
    sends = [json.loads(r.content) for _, p, r in wechat.calls if p.endswith("custom/send")]
    assert sends[0]["msgtype"] == "text" and sends[0]["text"]["content"].startswith("🎤 “你们几点开门”")
    assert sends[1] == {"touser": "o1", "msgtype": "voice", "voice": {"media_id": "MEDIA9"}}
    upload = next(r for _, p, r in wechat.calls if p.endswith("media/upload"))
    assert upload.url.params["type"] == "voice" and upload.url.params["access_token"] == "AT"
    mp3 = upload.content.split(b"\r\n\r\n", 1)[1]
    assert decode(mp3.rsplit(b"\r\n--", 1)[0]).seconds > 0.2
    assert stored(shop, conv)[0].text == "你们几点开门"


def test_whatsapp_download_failure_stores_the_reason_and_asks_the_customer_to_type(shop) -> None:  # type: ignore[no-untyped-def]
    meta = Platform({
        "/v21.0/M1": httpx.Response(400, json={"error": {"message": "expired"}}),
        "/messages": httpx.Response(200, json={"messages": [{"id": "wamid.1"}]}),
    })
    channel = channel_on("meta", {"app_secret": "a", "verify_token": "v", "access_token": "tok"}, meta)
    conv = conversation(shop, "meta")
    message = SimpleNamespace(message_id="wamid.in", text="[voice]",
                              address={"product": "whatsapp", "phone_number_id": "P1", "to": "491"},
                              audio={"platform": "whatsapp", "media_id": "M1"})
    asyncio.run(ChannelVoice(shop.voice).answer(shop.bot, conv, channel, message,
                                                lambda b, c, m: run_turn(shop, b, c, m)))
    customer, reply = stored(shop, conv)
    assert customer.status == "failed" and "download failed" in customer.trace["error"]
    assert reply.fallback and "type it" in reply.text and "speech-to-text failed" in reply.trace["fallback_reason"]
    sent = json.loads(meta.calls[-1][2].content)
    assert sent["type"] == "text" and "type it" in sent["text"]["body"]
    assert meta.calls[0][2].headers["authorization"] == "Bearer tok"


def test_whatsapp_audio_reply_uploads_media_then_sends_an_audio_message() -> None:
    meta = Platform({
        "/P1/media": httpx.Response(200, json={"id": "MEDIA1"}),
        "/P1/messages": httpx.Response(200, json={"messages": [{"id": "wamid.2"}]}),
    })
    channel = channel_on("meta", {"app_secret": "a", "verify_token": "v", "access_token": "tok"}, meta)
    asyncio.run(voice_media.send_audio(channel, {"product": "whatsapp", "phone_number_id": "P1", "to": "491"}, NOTE))
    upload, send = meta.calls[0][2], meta.calls[1][2]
    assert b'name="messaging_product"' in upload.content and b"audio/ogg" in upload.content
    assert json.loads(send.content)["audio"] == {"id": "MEDIA1"}
    assert not voice_media.can_send_audio("meta", {"product": "messenger"})


def set_speak_replies(shop, mode: str | None) -> Bot:  # type: ignore[no-untyped-def]
    """Store the bot's own speak_replies choice (as the console's widget form does) and return the bot."""
    with Session(shop.services.engine, expire_on_commit=False) as session:
        bot = session.get(Bot, shop.bot.id)
        bot.widget = {**(bot.widget or {}), "speak_replies": mode}
        session.add(bot)
        session.commit()
        return bot


def telegram_platform() -> Platform:
    return Platform({
        "/getFile": httpx.Response(200, json={"ok": True, "result": {"file_path": "v/1.oga"}}),
        "/v/1.oga": httpx.Response(200, content=NOTE),
        "/sendMessage": httpx.Response(200, json={"ok": True}),
        "/sendVoice": httpx.Response(200, json={"ok": True}),
    })


def test_a_bot_set_to_never_answers_a_voice_note_in_text_only(shop) -> None:  # type: ignore[no-untyped-def]
    bot = set_speak_replies(shop, "never")
    telegram = telegram_platform()
    channel = channel_on("telegram", {"bot_token": "123:abc", "secret_token": "s"}, telegram)
    message = SimpleNamespace(message_id="upd-n", text="[voice]", address={"chat_id": 42},
                              audio={"platform": "telegram", "file_id": "F1"})
    conv = conversation(shop, "telegram")
    asyncio.run(ChannelVoice(shop.voice).answer(bot, conv, channel, message, lambda b, c, m: run_turn(shop, b, c, m)))
    assert [p.rsplit("/", 1)[-1] for p in telegram.paths()] == ["getFile", "1.oga", "sendMessage"]


def test_a_bot_set_to_always_speaks_a_typed_message_too(shop) -> None:  # type: ignore[no-untyped-def]
    bot = set_speak_replies(shop, "always")
    telegram = telegram_platform()
    channel = channel_on("telegram", {"bot_token": "123:abc", "secret_token": "s"}, telegram)
    conv = conversation(shop, "telegram")
    reply = asyncio.run(shop.chat.turn(bot, conv, "what are your opening hours", "upd-t")).reply
    message = SimpleNamespace(message_id="upd-t", text="what are your opening hours", address={"chat_id": 42})
    sent = asyncio.run(ChannelVoice(shop.voice).speak(bot, conv, channel, message, reply, spoke=False))
    assert sent is True
    assert [p.rsplit("/", 1)[-1] for p in telegram.paths()] == ["sendVoice"]
    # the server default (when the customer spoke) does not speak typed messages
    default_bot = set_speak_replies(shop, None)
    assert ChannelVoice(shop.voice).voice.wants_audio(False, default_bot) is False

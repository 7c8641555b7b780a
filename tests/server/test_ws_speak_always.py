"""Typed widget messages get a spoken reply (an `audio` frame) only when the bot speaks "always".

The synthesizer is the real espeak-ng (apt) unless a test breaks it on purpose.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot.voice import VoiceEngine
from bot.voice.audio import decode
from server import voice_store
from server.tables import Bot, Message
from server.voice_turns import VoiceService
from tests.server.voice_helpers import FakeSynthesizer

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt)")
SPEAK_SECONDS = 3.0  # longer than espeak-ng + MP3 encoding take for a short reply on this machine


@pytest.fixture()
def app_client(shop_services) -> Iterator[tuple[TestClient, Any]]:  # type: ignore[no-untyped-def]
    from server.app import create_app

    app = create_app(shop_services.settings, shop_services)
    with TestClient(app) as client:
        yield client, app


def set_mode(services, mode: str | None) -> Bot:  # type: ignore[no-untyped-def]
    """Store the shop bot's speak_replies setting (None: the server default) as the console does."""
    with Session(services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        bot.widget = {**(bot.widget or {}), "speak_replies": mode}
        session.add(bot)
        session.commit()
        return bot


def typed_turn(ws: Any, client_id: str, text: str) -> tuple[dict, dict]:
    """Send a typed message; return its ack and final frame (chunks skipped)."""
    ws.send_json({"type": "message", "id": client_id, "text": text})
    ack = ws.receive_json()
    assert ack["type"] == "ack", ack
    while True:
        frame = ws.receive_json()
        if frame["type"] != "chunk":
            assert frame["type"] == "final", frame
            return ack, frame


def frames_after(ws: Any) -> list[dict]:
    """Wait long enough for a reply to be spoken, then ping: the frames that came before the pong.

    Never blocks on a frame that may not come, so a missing `audio` frame fails instead of hanging.
    """
    time.sleep(SPEAK_SECONDS)
    ws.send_json({"type": "ping"})
    frames = []
    while (frame := ws.receive_json()) != {"type": "pong"}:
        frames.append(frame)
    return frames


def stored_reply(services, message_id: str) -> Message:  # type: ignore[no-untyped-def]
    with Session(services.engine) as session:
        return session.get(Message, message_id)


@needs_espeak
def test_always_sends_an_audio_frame_whose_url_serves_the_spoken_reply(app_client, shop_services) -> None:  # type: ignore[no-untyped-def]
    client, _app = app_client
    bot = set_mode(shop_services, "always")
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        _ack, final = typed_turn(ws, "m1", "what are your opening hours?")
        frames = frames_after(ws)
    assert [f["type"] for f in frames] == ["audio"], frames
    audio = frames[0]
    assert audio["reply_to"] == "m1" and audio["message_id"] == final["message_id"]
    assert audio["media_type"] == "audio/mpeg" and audio["language"]
    assert audio["url"].startswith("http://testserver/api/v1/widget/")
    assert f"/voice/{conversation_id}/{final['message_id']}.mp3" in audio["url"]
    served = client.get(audio["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "audio/mpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert decode(served.content).seconds > 0.5  # real speech, not an empty file
    reply = stored_reply(shop_services, final["message_id"])
    assert reply.trace["voice"]["tts"]["engine"] == "espeak-ng"
    assert reply.trace["voice"]["audio"] == f"{final['message_id']}.mp3"
    # The slug socket (apps) gets the same frame; a re-sent message id reuses the stored audio.
    with client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_json({"type": "hello", "conversation_id": conversation_id})
        assert ws.receive_json()["type"] == "ready"
        _ack, again = typed_turn(ws, "m1", "what are your opening hours?")
        assert again["message_id"] == final["message_id"]
        repeat = frames_after(ws)
    assert [(f["type"], f["url"]) for f in repeat] == [("audio", audio["url"])]


@pytest.mark.parametrize("mode", ["never", "when_spoken"])
def test_never_and_when_spoken_send_no_audio_for_typed_messages(app_client, shop_services, mode: str) -> None:  # type: ignore[no-untyped-def]
    client, _app = app_client
    bot = set_mode(shop_services, mode)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        _ack, final = typed_turn(ws, "m1", "what are your opening hours?")
        assert frames_after(ws) == []
    assert "voice" not in (stored_reply(shop_services, final["message_id"]).trace or {})
    name = f"{final['message_id']}.mp3"
    assert voice_store.find(shop_services.settings.data_dir, bot.id, conversation_id, name) is None


@needs_espeak
def test_the_server_default_applies_and_a_console_change_reaches_an_open_socket(app_client, shop_services) -> None:  # type: ignore[no-untyped-def]
    client, app = app_client
    bot = set_mode(shop_services, None)
    voice = VoiceService(app.state.chat)
    voice.settings = voice.settings.model_copy(update={"reply_audio": "always"})  # FRONTDESK_VOICE__REPLY_AUDIO
    app.state.voice = voice
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello"})
        ws.receive_json()
        _ack, final = typed_turn(ws, "m1", "hello")
        assert [(f["type"], f["message_id"]) for f in frames_after(ws)] == [("audio", final["message_id"])]
        set_mode(shop_services, "never")  # the bot's own setting beats the server's default, at once
        typed_turn(ws, "m2", "thanks")
        assert frames_after(ws) == []


def test_a_failed_synthesis_keeps_the_text_reply_and_records_why(app_client, shop_services) -> None:  # type: ignore[no-untyped-def]
    client, app = app_client
    bot = set_mode(shop_services, "always")
    settings = shop_services.settings
    broken = FakeSynthesizer(broken=True)
    engine = VoiceEngine(settings.voice, settings.data_dir / "models", None, broken)
    app.state.voice = VoiceService(app.state.chat, engine)
    with client.websocket_connect(f"/ws/widget/{bot.public_key}") as ws:
        ws.send_json({"type": "hello"})
        ws.receive_json()
        _ack, final = typed_turn(ws, "m1", "what are your opening hours?")
        assert final["text"]
        assert frames_after(ws) == []  # no audio frame, no error frame, the socket is fine
        _ack, second = typed_turn(ws, "m2", "and on sundays?")
        assert second["text"]
    assert broken.texts  # it was asked to speak
    trace = stored_reply(shop_services, final["message_id"]).trace
    assert trace["voice"]["tts"]["error"].startswith("SynthesisFailed: espeak-ng exited 1")
    assert "audio" not in trace["voice"]

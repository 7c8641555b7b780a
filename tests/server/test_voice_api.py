"""The widget's voice endpoint: persist first, transcribe, answer, speak; every failure is clear."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot.voice import VoiceEngine
from server import voice_store
from server.api.voice import router as voice_router
from server.tables import Bot, Conversation, Message
from server.voice_turns import VoiceService
from tests.server.voice_helpers import FakeSynthesizer, FakeTranscriber, voice_note


@pytest.fixture()
def voice_app(shop_services) -> Iterator[tuple[TestClient, Bot, Conversation, VoiceService]]:  # type: ignore[no-untyped-def]
    """The app with the voice router, the shop bot's widget voice on, fake speech models."""
    from server.app import create_app

    with Session(shop_services.engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        bot.widget = {"voice": True}
        session.add(bot)
        conversation = Conversation(bot_id=bot.id, channel="web")
        session.add(conversation)
        session.commit()
    app = create_app(shop_services.settings, shop_services)
    app.include_router(voice_router)
    with TestClient(app) as client:
        engine = VoiceEngine(shop_services.settings.voice, shop_services.settings.data_dir / "models",
                             FakeTranscriber(), FakeSynthesizer())
        app.state.voice = VoiceService(app.state.chat, engine)
        yield client, bot, conversation, app.state.voice


def url(bot: Bot, conversation: Conversation, **query: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/api/v1/widget/{bot.public_key}/voice?conversation_id={conversation.id}{extra}"


def post(client: TestClient, target: str, data: bytes):  # type: ignore[no-untyped-def]
    """Upload a recording the way the widget does (multipart, one file)."""
    return client.post(target, files={"audio": ("voice.webm", data, "audio/webm")})


def messages(voice: VoiceService, conversation: Conversation) -> list[Message]:
    with Session(voice.chat.services.engine) as session:
        return list(session.exec(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.created_at)
        ).all())


def test_voice_turn_stores_transcribes_answers_and_speaks(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    data = voice_note()
    answer = post(client, url(bot, conversation), data)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["transcript"] == {"text": "what are your opening hours", "language": "en"}
    assert body["message"]["role"] == "customer" and body["message"]["text"] == "what are your opening hours"
    assert body["reply"]["text"]
    assert body["audio"]["media_type"] == "audio/mpeg"
    customer, reply = messages(voice, conversation)
    assert customer.text == "what are your opening hours" and customer.status == "answered"
    assert customer.trace["voice"]["stt"]["model"] == "fake"
    stored = voice_store.find(voice.data_dir, bot.id, conversation.id, customer.trace["voice"]["audio"])
    assert stored is not None and stored.read_bytes() == data and stored.suffix == ".ogg"
    assert reply.trace["voice"]["tts"]["engine"] == "fake-tts"
    audio = client.get(body["audio"]["url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert audio.headers["x-content-type-options"] == "nosniff"
    from bot.voice.audio import decode

    assert decode(audio.content).seconds > 0.2


def test_a_retry_with_the_same_client_id_is_not_heard_or_answered_twice(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    first = post(client, url(bot, conversation, client_id="rec-1"), voice_note())
    again = post(client, url(bot, conversation, client_id="rec-1"), voice_note())
    assert first.status_code == again.status_code == 200
    assert first.json()["reply"]["message_id"] == again.json()["reply"]["message_id"]
    assert voice.engine.transcriber().calls == 1  # type: ignore[attr-defined]
    assert len(messages(voice, conversation)) == 2


def test_unheard_audio_is_kept_marked_failed_and_answered_with_a_clear_error(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    voice.engine.transcriber().text = ""  # type: ignore[attr-defined]
    answer = post(client, url(bot, conversation), voice_note())
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "transcription_failed"
    (customer,) = messages(voice, conversation)
    assert customer.status == "failed" and customer.text == voice_store.PLACEHOLDER
    assert "TranscriptionFailed" in customer.trace["error"]


def test_tts_failure_keeps_the_text_reply_and_the_trace_says_why(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    voice.engine.synthesizer().broken = True  # type: ignore[attr-defined]
    body = post(client, url(bot, conversation), voice_note()).json()
    assert body["reply"]["text"] and body["audio"] is None
    reply = messages(voice, conversation)[-1]
    assert "SynthesisFailed" in reply.trace["voice"]["tts"]["error"]


@pytest.mark.parametrize(
    "data,status,code",
    [(b"", 400, "bad_audio"), (b"garbage" * 100, 400, "bad_audio"), (None, 413, "audio_too_long")],
)
def test_bad_audio_is_refused_in_the_one_error_shape(voice_app, data, status, code) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    voice.settings.max_seconds = 2.0
    answer = post(client, url(bot, conversation), data if data is not None else voice_note(3.0, "wav"))
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


def test_oversized_upload_is_refused_before_decoding(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    voice.settings.max_bytes = 2048
    answer = post(client, url(bot, conversation), b"\0" * 4096)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"
    assert messages(voice, conversation) == []
    raw = client.post(url(bot, conversation), content=voice_note(), headers={"content-type": "audio/ogg"})
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "bad_upload"


def test_voice_off_for_the_widget_or_the_server(voice_app, shop_services) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    with Session(shop_services.engine) as session:
        row = session.get(Bot, bot.id)
        row.widget = {"voice": False}
        session.add(row)
        session.commit()
    answer = post(client, url(bot, conversation), voice_note())
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "voice_off"
    with Session(shop_services.engine) as session:
        row = session.get(Bot, bot.id)
        row.widget = {"voice": True}
        session.add(row)
        session.commit()
    from bot.voice.stt import NoTranscriber

    voice.engine._transcriber = NoTranscriber()
    answer = post(client, url(bot, conversation), voice_note())
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "voice_off"


def test_audio_files_cannot_be_walked_or_guessed(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, _ = voice_app
    base = f"/api/v1/widget/{bot.public_key}/voice/{conversation.id}"
    for name in ["..%2F..%2Ffd.db", "msg_x.mp3", "fd.db", f"msg_{'0' * 32}.mp3"]:
        assert client.get(f"{base}/{name}").status_code == 404
    assert client.get(f"/api/v1/widget/{bot.public_key}/voice/..%2F..%2F/x.mp3").status_code == 404


def test_orphaned_voice_folders_are_purged(voice_app, shop_services) -> None:  # type: ignore[no-untyped-def]
    client, bot, conversation, voice = voice_app
    post(client, url(bot, conversation), voice_note())
    orphan = voice_store.folder(voice.data_dir, bot.id, "c_gone")
    orphan.mkdir(parents=True)
    (orphan / "msg_1.ogg").write_bytes(b"x")
    assert voice_store.purge_orphans(shop_services.engine, voice.data_dir) == 1
    assert not orphan.exists()
    assert voice_store.folder(voice.data_dir, bot.id, conversation.id).is_dir()

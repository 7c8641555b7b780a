"""A widget voice message refused as busy: the re-send is answered from the stored transcript, heard once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot.errors import GenerationBusy
from bot.voice import VoiceEngine
from server.api.voice import router as voice_router
from server.tables import Bot, Conversation, Message
from server.voice_turns import VoiceService
from tests.server.voice_helpers import FakeSynthesizer, FakeTranscriber, voice_note


@pytest.fixture()
def voice_app(shop_services) -> Iterator[tuple[TestClient, str, VoiceService]]:  # type: ignore[no-untyped-def]
    """The app with the voice router, the shop bot's widget voice on, fake speech models; yields the upload URL."""
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
        target = f"/api/v1/widget/{bot.public_key}/voice?conversation_id={conversation.id}&client_id=rec-1"
        yield client, target, app.state.voice


def test_a_voice_message_refused_as_busy_is_answered_on_the_re_send(voice_app) -> None:  # type: ignore[no-untyped-def]
    client, target, voice = voice_app
    runtime = voice.chat.services.runtimes.get("shop")
    original = runtime.answer

    def full(*args: Any, **kwargs: Any) -> Any:
        raise GenerationBusy(4, retry_after=6)

    runtime.answer = full  # type: ignore[method-assign]
    try:
        refused = client.post(target, files={"audio": ("voice.webm", voice_note(), "audio/webm")})
    finally:
        runtime.answer = original  # type: ignore[method-assign]
    again = client.post(target, files={"audio": ("voice.webm", voice_note(), "audio/webm")})

    assert refused.status_code == 503 and refused.json()["error"]["code"] == "busy", refused.text
    assert again.status_code == 200, again.text
    assert again.json()["reply"]["text"]
    assert voice.engine.transcriber().calls == 1  # type: ignore[attr-defined]  # the transcript was kept
    with Session(voice.chat.services.engine) as session:
        (customer,) = session.exec(select(Message).where(Message.role == "customer")).all()
        replies = session.exec(select(Message).where(Message.reply_to == customer.id)).all()
    assert customer.status == "answered" and customer.text == "what are your opening hours"
    assert customer.trace["refused"]["busy_source"] == "generation" and len(replies) == 1

"""Voice turns: persist the customer's audio, transcribe it, run the normal turn, speak the reply.

The order keeps nothing lost: the audio message is stored first (text "[voice]"), its audio file
saved, then transcribed; the transcript replaces the text (so the console shows it) and the turn
runs through `ChatService.turn` with the same client id, which answers the stored message instead
of storing a second one. A failed transcription marks the message failed with the reason; a failed
synthesis leaves the text reply as it is and records why on its trace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
from sqlmodel import Session

from bot.voice import VoiceEngine, VoiceError, VoiceSettings, replies
from bot.voice.audio import MEDIA_TYPES, OutputFormat
from bot.voice.stt import Transcript
from server import store, voice_store
from server import widget as widget_settings
from server.chat import ChatService, TurnOutcome
from server.privacy import text_to_store
from server.tables import Bot, Conversation, Message

log = logging.getLogger(__name__)


@dataclass
class Heard:
    """A stored voice message and its transcript (None with `error` when it could not be heard)."""

    message: Message
    transcript: Transcript | None
    error: VoiceError | None = None
    duplicate: bool = False


@dataclass
class SpokenReply:
    """A reply's audio as stored: the file name in the conversation's voice folder."""

    name: str
    media_type: str
    language: str
    data: bytes


class VoiceService:
    """Voice for every channel; one per app (`voice_service(app)`), its models load on first use."""

    def __init__(self, chat: ChatService, engine: VoiceEngine | None = None) -> None:
        self.chat = chat
        settings = chat.services.settings
        self.settings: VoiceSettings = settings.voice
        self.engine = engine or VoiceEngine(self.settings, settings.data_dir / "models")
        self.limiter = anyio.CapacityLimiter(1)  # one transcription at a time: the model uses every core

    @property
    def data_dir(self):  # type: ignore[no-untyped-def]
        """The data folder."""
        return self.chat.services.settings.data_dir

    def wants_audio(self, spoke: bool, bot: Bot | None = None) -> bool:
        """Whether a reply should also be spoken: the bot's own setting, else the server's default."""
        own = widget_settings.settings_of(bot).speak_replies if bot is not None else None
        return replies.wants_audio(replies.effective_mode(own, self.settings.reply_audio), spoke, self.engine.speaks)

    async def hear(
        self, bot: Bot, conversation: Conversation, data: bytes, client_id: str, recognition: str | None = None
    ) -> Heard:
        """Store the voice message and its audio, then transcribe it (or take the platform's recognition).

        Args:
            bot: the bot.
            conversation: the conversation it belongs to.
            data: the audio as it arrived.
            client_id: the idempotency key (the platform's message id, or the widget's).
            recognition: text the platform already recognised (WeChat's Recognition field).
        """
        engine = self.chat.services.engine
        with Session(engine, expire_on_commit=False) as session:
            received = store.receive(session, conversation, voice_store.PLACEHOLDER, client_id)
        message = received.message
        if received.duplicate and message.text != voice_store.PLACEHOLDER and message.status != "failed":
            return Heard(message, None, duplicate=True)  # heard before: a redelivery or a retry
        name = voice_store.save(self.data_dir, bot.id, conversation.id, message.id, data, voice_store.extension(data))
        info: dict[str, Any] = {"audio": name, "bytes": len(data)}
        try:
            if recognition and recognition.strip():
                transcript = Transcript(recognition.strip(), "", 0.0, 0.0, 0.0, "platform")
                info["stt"] = {"model": "platform recognition"}
            else:
                transcript = await anyio.to_thread.run_sync(self.hear_for, bot, data, limiter=self.limiter)
                info["stt"] = transcript.to_dict()
        except VoiceError as exc:
            log.info("voice message %s not transcribed: %s", message.id, exc)
            with Session(engine, expire_on_commit=False) as session:
                voice_store.mark_failed(session, message.id, f"{type(exc).__name__}: {exc}", info)
            return Heard(message, None, exc)
        with Session(engine, expire_on_commit=False) as session:
            text = text_to_store(session, bot, transcript.text)
            message = voice_store.merge_trace(session, message.id, info, text=text, status="received")
        return Heard(message, transcript)

    def hear_for(self, bot: Bot, data: bytes) -> Transcript:
        """Transcribe, biased towards the bot's own words (its vocabulary is cached and rebuilt when they change)."""
        runtimes = self.chat.services.runtimes
        vocabulary = self.engine.vocabulary(
            bot.id, partial(runtimes.speech_mark, bot.slug), partial(runtimes.speech_texts, bot.slug)
        )
        return self.engine.hear(data, vocabulary)

    async def speak(
        self, bot_id: str, conversation_id: str, reply: Message, language: str | None, fmt: OutputFormat
    ) -> SpokenReply | None:
        """Synthesise a stored reply and keep the audio; None (reason on the reply's trace) on failure."""
        engine = self.chat.services.engine
        try:
            spoken = await anyio.to_thread.run_sync(self.engine.speak, reply.text, language or None, fmt)
        except VoiceError as exc:
            log.warning("reply %s not spoken: %s", reply.id, exc)
            with Session(engine, expire_on_commit=False) as session:
                voice_store.merge_trace(session, reply.id, {"tts": {"error": f"{type(exc).__name__}: {exc}"[:300]}})
            return None
        name = voice_store.save(self.data_dir, bot_id, conversation_id, reply.id, spoken.data, f".{fmt}")
        tts = {
            "engine": spoken.speech.engine or self.engine.synthesizer().name,
            "voice": spoken.speech.voice, "language": spoken.speech.language,
            "seconds": round(spoken.speech.audio.seconds, 2), "elapsed": round(spoken.speech.elapsed, 2),
        }
        with Session(engine, expire_on_commit=False) as session:
            voice_store.merge_trace(session, reply.id, {"audio": name, "tts": tts})
        return SpokenReply(name, MEDIA_TYPES[fmt], spoken.speech.language, spoken.data)

    async def turn(
        self, bot: Bot, conversation: Conversation, data: bytes, client_id: str | None, fmt: OutputFormat = "mp3"
    ) -> VoiceTurn:
        """The widget's voice turn: hear, answer through the normal pipeline, speak the reply.

        Raises:
            VoiceError: the audio could not be heard (the message is stored as failed).
        """
        heard = await self.hear(bot, conversation, data, client_id or f"voice_{uuid.uuid4().hex}")
        if heard.error is not None:
            raise heard.error
        outcome = await self.chat.turn(bot, conversation, heard.message.text, heard.message.client_id)
        spoken = None
        if outcome.reply is not None and self.wants_audio(spoke=True, bot=bot):
            language = heard.transcript.language if heard.transcript else None
            spoken = await self.speak_once(bot.id, conversation.id, outcome.reply, language, fmt)
        return VoiceTurn(heard, outcome, spoken)

    async def speak_once(
        self, bot_id: str, conversation_id: str, reply: Message, language: str | None, fmt: OutputFormat
    ) -> SpokenReply | None:
        """The reply's stored audio when a retry finds it spoken already, else `speak` it now."""
        existing = voice_store.find(self.data_dir, bot_id, conversation_id, f"{reply.id}.{fmt}")
        if existing is not None:
            return SpokenReply(existing.name, MEDIA_TYPES[fmt], language or "", existing.read_bytes())
        return await self.speak(bot_id, conversation_id, reply, language, fmt)

    def _fresh_bot(self, bot: Bot) -> Bot:
        with Session(self.chat.services.engine) as session:
            return session.get(Bot, bot.id) or bot

    async def speak_typed(self, bot: Bot, conversation_id: str, reply: Message) -> SpokenReply | None:
        """A typed message's reply as audio for the widget (MP3) when the bot speaks "always"; else None.

        The bot's setting is read from the database, so a change in the console applies to open
        sockets at once. A failed synthesis returns None with the reason on the reply's trace.
        """
        if not self.engine.speaks:
            return None
        bot = await anyio.to_thread.run_sync(self._fresh_bot, bot)  # every reply passes here: keep the loop free
        if not self.wants_audio(spoke=False, bot=bot):
            return None
        return await self.speak_once(bot.id, conversation_id, reply, None, "mp3")


@dataclass
class VoiceTurn:
    """What a widget voice turn produced."""

    heard: Heard
    outcome: TurnOutcome
    spoken: SpokenReply | None


def voice_service(app: Any) -> VoiceService:
    """The app's voice service, built on first use (its models load later still, on first audio)."""
    service = getattr(app.state, "voice", None)
    if service is None:
        service = app.state.voice = VoiceService(app.state.chat)
    return service


# ---- messaging platforms -----------------------------------------------------------------------
TurnRunner = Any  # async (bot, conversation, message) -> Message | None: ChannelService.turn


class ChannelVoice:
    """Voice notes on messaging platforms; ChannelService calls it for messages with `audio`.

    Args:
        voice: the app's VoiceService.
    """

    def __init__(self, voice: VoiceService) -> None:
        self.voice = voice

    async def answer(self, bot: Bot, conversation: Conversation, channel: Any, message: Any, turn: TurnRunner) -> None:
        """Background task for a voice note: download, hear, answer, send the text and then the audio."""
        from server.channels import voice_media

        audio = message.audio or {}
        recognition = audio.get("recognition") or None
        try:
            data = b"" if recognition else await voice_media.download(channel, audio, self.voice.settings.max_bytes)
        except voice_media.SendError as exc:
            log.warning("voice note %s not downloaded: %s", message.message_id, exc.message)
            await self._apologise(bot, conversation, channel, message, f"download failed: {exc.message}")
            return
        heard = await self.voice.hear(bot, conversation, data, message.message_id, recognition)
        if heard.error is not None:
            await self._apologise(bot, conversation, channel, message, f"{type(heard.error).__name__}: {heard.error}")
            return
        message.text = heard.message.text
        reply = await turn(bot, conversation, message)
        if reply is None:
            return
        echo = f"🎤 “{heard.message.text}”\n\n" if self.voice.settings.echo_transcript else ""
        await self._send_text(channel, message, reply, echo)
        language = heard.transcript.language if heard.transcript else None
        await self.speak(bot, conversation, channel, message, reply, spoke=True, language=language)

    async def speak(
        self, bot: Bot, conversation: Conversation, channel: Any, message: Any, reply: Message, spoke: bool,
        language: str | None = None,
    ) -> bool:
        """Send the reply as audio too when the settings want it and the platform takes it; True if sent."""
        from server.channels import voice_media

        if not self.voice.wants_audio(spoke, bot) or not voice_media.can_send_audio(channel.kind, message.address):
            return False
        fmt = voice_media.AUDIO_FORMAT[channel.kind]
        spoken = await self.voice.speak(bot.id, conversation.id, reply, language, fmt)  # type: ignore[arg-type]
        if spoken is None:
            return False
        try:
            await voice_media.send_audio(channel, message.address, spoken.data)
        except voice_media.SendError as exc:
            log.warning("audio reply %s not sent on %s: %s", reply.id, channel.kind, exc.message)
            with Session(self.voice.chat.services.engine) as session:
                voice_store.merge_trace(session, reply.id, {"sent": False, "send_error": exc.message[:300]})
            return False
        with Session(self.voice.chat.services.engine) as session:
            voice_store.merge_trace(session, reply.id, {"sent": True})
        return True

    async def _send_text(self, channel: Any, message: Any, reply: Message, prefix: str = "") -> None:
        from server.channels.base import outbound_for
        from server.channels.delivery import SendError

        outbound = outbound_for(reply, message, prefix)
        try:
            await channel.send(outbound)
        except SendError as exc:
            log.warning("could not send reply %s on %s: %s", reply.id, channel.kind, exc.message)

    async def _apologise(self, bot: Bot, conversation: Conversation, channel: Any, message: Any, why: str) -> None:
        """Store and send a short text reply asking the customer to type; the reason goes on its trace."""
        from bot.types import BotReply, Trace

        with Session(self.voice.chat.services.engine, expire_on_commit=False) as session:
            received = store.receive(session, conversation, voice_store.PLACEHOLDER, message.message_id)
            if received.reply is not None:
                return  # answered already (a redelivery)
            if received.message.status != "failed":
                voice_store.mark_failed(session, received.message.id, why, {})
            trace = Trace(fallback_reason=f"speech-to-text failed: {why}"[:300])
            sorry = BotReply(self.voice.settings.sorry, [], None, True, trace)
            reply = store.record_reply(session, received.message, sorry)
        await self._send_text(channel, message, reply)

"""VoiceEngine: audio bytes in -> transcript; reply text -> encoded audio. Models load on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

from bot.voice.audio import Audio, OutputFormat, decode, encode
from bot.voice.config import VoiceSettings
from bot.voice.stt import Transcriber, Transcript, create_transcriber
from bot.voice.tts import Speech, Synthesizer, create_synthesizer, speakable
from bot.voice.vocabulary import EMPTY, DomainTexts, Vocabulary, VocabularyCache


@dataclass
class Spoken:
    """An encoded reply and how it was made."""

    data: bytes
    format: OutputFormat
    speech: Speech


class VoiceEngine:
    """One per process: holds the speech-to-text model and the synthesizer.

    Args:
        settings: the voice settings.
        cache_dir: where packaged models are assembled (the data folder's `models/`).
        transcriber, synthesizer: ready-made backends (tests); built from the settings otherwise.
    """

    def __init__(
        self,
        settings: VoiceSettings,
        cache_dir: Path,
        transcriber: Transcriber | None = None,
        synthesizer: Synthesizer | None = None,
    ) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self._transcriber = transcriber
        self._synthesizer = synthesizer
        self._lock = threading.Lock()
        self.vocabularies = VocabularyCache()

    @property
    def listens(self) -> bool:
        """Whether speech input is configured (it may still fail to load)."""
        if self._transcriber is not None:
            return self._transcriber.name != "none"
        return self.settings.stt.strip().lower() not in ("", "none", "off")

    @property
    def speaks(self) -> bool:
        """Whether speech output is configured."""
        if self._synthesizer is not None:
            return self._synthesizer.name != "none"
        return self.settings.tts.strip().lower() not in ("", "none", "off")

    def transcriber(self) -> Transcriber:
        """The speech-to-text backend (VoiceOff when it cannot be built)."""
        with self._lock:
            if self._transcriber is None:
                s = self.settings
                self._transcriber = create_transcriber(
                    s.stt,
                    self.cache_dir,
                    s.languages,
                    s.device,
                    s.compute_type,
                    s.threads,
                    s.beam_size,
                    s.vocabulary_tokens,
                )
            return self._transcriber

    def synthesizer(self) -> Synthesizer:
        """The text-to-speech backend (VoiceOff when it cannot be built)."""
        with self._lock:
            if self._synthesizer is None:
                self._synthesizer = create_synthesizer(
                    self.settings.tts, self.settings.espeak_rate, self.settings.threads
                )
            return self._synthesizer

    def decode(self, data: bytes) -> Audio:
        """Decode a customer's audio, refusing more than max_bytes or max_seconds."""
        from bot.voice.errors import AudioTooLong

        if len(data) > self.settings.max_bytes:
            raise AudioTooLong(f"the audio is larger than {self.settings.max_bytes // 1024} KiB")
        return decode(data, self.settings.max_seconds)

    def vocabulary(self, key: str, fingerprint: Callable[[], Hashable], texts: Callable[[], DomainTexts]) -> Vocabulary:
        """A bot's speech vocabulary, cached and rebuilt when its fingerprint changes (blocking on a rebuild).

        Args:
            key: the bot (its id).
            fingerprint: a cheap mark of the bot's intents and knowledge (compared every few seconds).
            texts: the bot's intent examples, titles, headings and passages (read on a change).

        Returns:
            The vocabulary; empty when biasing is off (`vocabulary_tokens` 0).
        """
        if self.settings.vocabulary_tokens <= 0:
            return EMPTY
        return self.vocabularies.get(key, fingerprint, texts)

    def hear(self, data: bytes, vocabulary: Vocabulary | None = None) -> Transcript:
        """Decode and transcribe, biased towards a bot's vocabulary when given (blocking: call it off the event loop).

        Raises:
            AudioInvalid, AudioTooLong, TranscriptionFailed, VoiceOff.
        """
        transcriber = self.transcriber()
        audio = self.decode(data)
        if vocabulary is None or not vocabulary.terms:
            return transcriber.transcribe(audio)
        return transcriber.transcribe(audio, vocabulary)

    def speak(self, text: str, language: str | None, fmt: OutputFormat) -> Spoken:
        """Synthesise a reply and encode it (blocking).

        Raises:
            SynthesisFailed, VoiceOff, AudioInvalid (encoding).
        """
        speech = self.synthesizer().synthesize(speakable(text, self.settings.max_reply_chars), language)
        return Spoken(encode(speech.audio, fmt), fmt, speech)

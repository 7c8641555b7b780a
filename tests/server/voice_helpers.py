"""Fakes for voice tests: a transcriber that says what it is told, a synthesizer that fails on demand."""

from __future__ import annotations

import numpy as np

from bot.voice import SynthesisFailed, TranscriptionFailed
from bot.voice.audio import RATE, Audio, encode
from bot.voice.stt import Transcript
from bot.voice.tts import Speech
from bot.voice.vocabulary import Vocabulary


class FakeTranscriber:
    """Hears `text` in any audio (or fails with TranscriptionFailed when text is empty)."""

    name = "fake"

    def __init__(self, text: str = "what are your opening hours", language: str = "en") -> None:
        self.text = text
        self.language = language
        self.calls = 0
        self.vocabularies: list[Vocabulary | None] = []

    def transcribe(self, audio: Audio, vocabulary: Vocabulary | None = None) -> Transcript:
        """Return the configured text (and remember the vocabulary it was given)."""
        self.calls += 1
        self.vocabularies.append(vocabulary)
        if not self.text:
            raise TranscriptionFailed("no speech was recognised in the audio")
        return Transcript(self.text, self.language, 0.99, audio.seconds, 0.01, self.name)


class FakeSynthesizer:
    """A short tone per reply, or SynthesisFailed when `broken`."""

    name = "fake-tts"

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.texts: list[str] = []

    def synthesize(self, text: str, language: str | None = None) -> Speech:
        """A 0.3 s tone."""
        self.texts.append(text)
        if self.broken:
            raise SynthesisFailed("espeak-ng exited 1: boom")
        return Speech(tone(0.3), language or "en", "fake", 0.0)


def tone(seconds: float) -> Audio:
    """A 440 Hz tone."""
    t = np.arange(int(seconds * RATE)) / RATE
    return Audio((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


def voice_note(seconds: float = 1.0, fmt: str = "ogg") -> bytes:
    """Some encoded audio (what a browser or a messaging app would send)."""
    return encode(tone(seconds), fmt)  # type: ignore[arg-type]

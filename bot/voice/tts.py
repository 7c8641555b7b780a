"""Text-to-speech: a small protocol, Debian's espeak-ng as the offline engine, and a factory.

No Mandarin neural voice ships in a PyPI package (docs/models.md, "Voice"), so espeak-ng speaks
both languages. Its `cmn` voice in Debian's 1.51 reads the pinyin tone digits it produces as English
numbers ("ni three men five"), so Chinese uses `cmn-latn-pinyin`, which says the tones.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.language import detect
from bot.voice.audio import Audio, read_wav
from bot.voice.errors import AudioInvalid, SynthesisFailed, VoiceOff

VOICES: dict[str, str] = {"zh": "cmn-latn-pinyin", "en": "en-us"}
TIMEOUT = 30.0
_CITATION = re.compile(r"\s*\[\d+\]")
_MARKUP = re.compile(r"[*_`#>|]+")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)|https?://\S+")


@dataclass
class Speech:
    """Synthesised audio and how it was made."""

    audio: Audio
    language: str
    voice: str
    elapsed: float


@runtime_checkable
class Synthesizer(Protocol):
    """Turns a reply text into audio."""

    name: str

    def synthesize(self, text: str, language: str | None = None) -> Speech:
        """Speak text (language: ISO 639-1; None: detected from the text)."""


def speakable(text: str, limit: int) -> str:
    """The reply as it should be read aloud: no citation markers, links or Markdown, cut at limit."""
    text = _LINK.sub(lambda m: m.group(1) or "", text)
    text = _MARKUP.sub(" ", _CITATION.sub("", text))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(mark) for mark in ".!?。！？")
    return cut[: end + 1] if end > limit // 2 else cut


class NoSynthesizer:
    """Voice output is off."""

    name = "none"

    def synthesize(self, text: str, language: str | None = None) -> Speech:
        """Refuse."""
        raise VoiceOff("speech output is off on this server: set FRONTDESK_VOICE__TTS=espeak-ng")


class EspeakSynthesizer:
    """espeak-ng as a subprocess: the text goes in on stdin (never as an argument), WAV comes out."""

    name = "espeak-ng"

    def __init__(self, binary: str = "espeak-ng", rate: int = 160, voices: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.rate = rate
        self.voices = voices or VOICES

    def voice_for(self, text: str, language: str | None) -> tuple[str, str]:
        """The language and espeak-ng voice for a text; unknown languages fall back to English."""
        lang = (language or detect(text).language or "en").lower()
        return (lang, self.voices[lang]) if lang in self.voices else ("en", self.voices["en"])

    def synthesize(self, text: str, language: str | None = None) -> Speech:
        """Speak text with the voice of its language.

        Raises:
            SynthesisFailed: empty text, espeak-ng failed or timed out.
        """
        if not text.strip():
            raise SynthesisFailed("nothing to say")
        lang, voice = self.voice_for(text, language)
        started = time.perf_counter()
        command = [self.binary, "-v", voice, "-s", str(self.rate), "--stdout", "--stdin"]
        try:
            done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SynthesisFailed(f"espeak-ng failed ({type(exc).__name__})") from exc
        if done.returncode != 0 or not done.stdout:
            raise SynthesisFailed(f"espeak-ng exited {done.returncode}: {done.stderr.decode(errors='replace')[:200]}")
        try:
            audio = read_wav(done.stdout)
        except AudioInvalid as exc:
            raise SynthesisFailed(f"espeak-ng wrote no usable WAV ({exc})") from exc
        return Speech(audio, lang, voice, time.perf_counter() - started)


def create_synthesizer(spec: str, rate: int = 160) -> Synthesizer:
    """Build the synthesizer a setting names: 'espeak-ng' (or a path to it) or 'none'.

    Raises:
        VoiceOff: espeak-ng is not installed (the message says how to install it).
    """
    value = spec.strip()
    if value.lower() in ("", "none", "off"):
        return NoSynthesizer()
    binary = shutil.which(value) if value != "espeak-ng" else shutil.which("espeak-ng")
    if binary is None:
        raise VoiceOff(
            f"text-to-speech {spec!r} not found: apt-get install espeak-ng, or set FRONTDESK_VOICE__TTS=none"
        )
    return EspeakSynthesizer(binary, rate)

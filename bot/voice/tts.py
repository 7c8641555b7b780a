"""Text-to-speech: a small protocol, the engines, a per-language router and a factory.

Debian's espeak-ng speaks every language, instantly but robotically. Its `cmn` voice in Debian's 1.51
reads the pinyin tone digits it produces as English numbers ("ni three men five"), so Chinese uses
`cmn-latn-pinyin`, which says the tones. Where the optional Kokoro-82M voice is installed
(bot/voice/kokoro.py), `kokoro` or `auto` gives Mandarin replies a natural neural voice and leaves the
other languages to espeak-ng.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.language import detect
from bot.voice.audio import Audio, read_wav
from bot.voice.errors import AudioInvalid, SynthesisFailed, VoiceOff
from bot.voice.models import KOKORO_MODEL, packaged_parts_present, resolve_kokoro_voice

log = logging.getLogger(__name__)
VOICES: dict[str, str] = {"zh": "cmn-latn-pinyin", "en": "en-us"}
KOKORO_DEFAULT_VOICE = "zf_xiaobei"
# What the Kokoro voice imports: the ONNX runtime and misaki's Mandarin G2P with its dependencies.
_KOKORO_MODULES = ("onnxruntime", "misaki", "jieba", "pypinyin", "cn2an", "ordered_set")
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
    engine: str = ""  # the engine that spoke it ("espeak-ng", "kokoro"); "" where not known


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
        return Speech(audio, lang, voice, time.perf_counter() - started, self.name)


class ByLanguage:
    """Each reply goes to the voice of its language; languages without one go to the fallback."""

    def __init__(self, voices: dict[str, Synthesizer], fallback: Synthesizer | None) -> None:
        self.voices = voices
        self.fallback = fallback
        names = [*dict.fromkeys(v.name for v in voices.values())] + ([fallback.name] if fallback else [])
        self.name = "+".join(names)

    def synthesize(self, text: str, language: str | None = None) -> Speech:
        """Speak text with its language's voice (language: ISO 639-1; None: detected from the text).

        Raises:
            SynthesisFailed: no voice for the language, or the engine failed.
        """
        lang = (language or detect(text).language or "en").lower()
        engine = self.voices.get(lang, self.fallback)
        if engine is None:
            raise SynthesisFailed(f"no voice for language {lang!r} on this server: apt-get install espeak-ng")
        return engine.synthesize(text, lang)


def create_synthesizer(spec: str, rate: int = 160, threads: int = 2) -> Synthesizer:
    """Build the synthesizer a setting names.

    Args:
        spec: 'espeak-ng' (or a path to it); 'kokoro' or 'kokoro:VOICE' (a Mandarin voice name such as
            zm_yunxi, or a voice .bin path): Kokoro for Mandarin, espeak-ng for the rest; 'auto': Kokoro
            for Mandarin where it is installed, else espeak-ng; 'none'.
        rate: espeak-ng words per minute.
        threads: CPU threads for the Kokoro model.

    Raises:
        VoiceOff: the engine named is not installed (the message says how to install it).
    """
    value = spec.strip()
    key = value.lower()
    if key in ("", "none", "off"):
        return NoSynthesizer()
    if key == "auto":
        return _auto(rate, threads)
    if key == "kokoro" or key.startswith("kokoro:"):
        voice = value.partition(":")[2] or KOKORO_DEFAULT_VOICE
        return ByLanguage({"zh": kokoro(voice, threads)}, _espeak_or_none(rate))
    return espeak(value, rate)


def espeak(spec: str = "espeak-ng", rate: int = 160) -> EspeakSynthesizer:
    """espeak-ng, found on PATH or at the path given.

    Raises:
        VoiceOff: espeak-ng is not installed (the message says how to install it).
    """
    binary = shutil.which(spec)
    if binary is None:
        raise VoiceOff(
            f"text-to-speech {spec!r} not found: apt-get install espeak-ng, or set FRONTDESK_VOICE__TTS=none"
        )
    return EspeakSynthesizer(binary, rate)


def kokoro(voice: str = KOKORO_DEFAULT_VOICE, threads: int = 2) -> Synthesizer:
    """The Kokoro Mandarin voice, checked to be installed (the model itself loads on first use).

    Raises:
        VoiceOff: a package, the model parts or the voice file is missing (the message says what to install).
    """
    from bot.voice.kokoro import INSTALL, KokoroSynthesizer

    missing = [m for m in _KOKORO_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise VoiceOff(f"the Kokoro voice needs {', '.join(missing)}: {INSTALL}")
    if not packaged_parts_present(KOKORO_MODEL):
        raise VoiceOff(f"the Kokoro model is not installed: pip install {KOKORO_MODEL.requirement}")
    return KokoroSynthesizer(resolve_kokoro_voice(voice), threads=threads)


def _espeak_or_none(rate: int) -> EspeakSynthesizer | None:
    try:
        return espeak("espeak-ng", rate)
    except VoiceOff:
        log.warning("espeak-ng is not installed: only Mandarin replies will be spoken")
        return None


def _auto(rate: int, threads: int) -> Synthesizer:
    fallback = _espeak_or_none(rate)
    try:
        return ByLanguage({"zh": kokoro(KOKORO_DEFAULT_VOICE, threads)}, fallback)
    except VoiceOff as exc:
        if fallback is None:
            raise VoiceOff(f"no text-to-speech engine: apt-get install espeak-ng ({exc})") from exc
        log.info("Mandarin replies use espeak-ng: %s", exc)
        return fallback

"""Kokoro-82M: a natural neural Mandarin voice, offline, on the CPU.

The model is Kokoro-82M v1.0 as an int8 ONNX file, shipped split in PyPI packages and the voice is a
style-vector file (bot/voice/models.py says where each comes from). Mandarin text becomes phonemes with
misaki's `ZHG2P` in the legacy mode Kokoro v1.0 was trained with (jieba words, pypinyin tones, cn2an
numerals). Numbers are prepared first so that times, order numbers and phone numbers are read the way
a person reads them, not as one large quantity.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bot.voice.audio import Audio
from bot.voice.errors import SynthesisFailed, VoiceOff
from bot.voice.models import KOKORO_MODEL, read_kokoro_voice, read_parts
from bot.voice.tts import Speech  # tts.py imports this module only inside its factory

log = logging.getLogger(__name__)
RATE = 24_000
INSTALL = "pip install 'frontdesk[kokoro]'"
MAX_PHONEMES = 500  # the model's context is 512 tokens, two of them padding
_PAUSE = 0.15  # seconds of silence between sentences synthesised apart
# Kokoro v1.0's phoneme vocabulary (config.json of hexgrad/Kokoro-82M, Apache-2.0).
_SYMBOLS = (
    ';:,.!?—…"()“” \u0303ʣʥʦʨᵝꭧAIOQSTWYᵊabcdefhijklmnopqrstuvwxyzɑɐɒæβɔɕçɖðʤəɚɛɜɟɡɥɨɪʝɯɰŋɳɲɴøɸθœɹɾɻʁɽʂʃʈʧʊʋʌɣɤχʎʒʔ'
    "ˈˌːʰʲ↓→↗↘ᵻ"
)
_IDS = (
    1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 31, 33, 35, 36, 39, 41, 42,
    43, 44, 45, 46, 47, 48, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71,
    72, 75, 76, 77, 78, 80, 81, 82, 83, 85, 86, 87, 90, 92, 99, 101, 102, 103, 110, 111, 112, 113, 114, 115, 116,
    118, 119, 120, 123, 125, 126, 128, 129, 130, 131, 132, 133, 135, 136, 138, 139, 140, 142, 143, 147, 148, 156,
    157, 158, 162, 164, 169, 171, 172, 173, 177,
)
VOCAB: dict[str, int] = dict(zip(_SYMBOLS, _IDS, strict=True))
_PUNCTUATION = frozenset(';:,.!?—…"()“” ')

_SENTENCE = re.compile(r"(?<=[。！？!?；;…\n])")
_CLAUSE = re.compile(r"(?<=[,.!?;:])\s*")
_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)[-/.](1[0-2]|0?[1-9])[-/.](3[01]|[12]\d|0?[1-9])(?!\d)")
_TIME = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:：]([0-5]\d)(?!\d)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER_GROUP = re.compile(r"\d+(?:[- ]\d+)*")
_DIGIT_NAMES = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


def _date(match: re.Match[str]) -> str:
    year, month, day = match.groups()
    return f"{year}年{int(month)}月{int(day)}日"


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    return f"{hour}点" + ("" if minute == 0 else "半" if minute == 30 else f"{minute}分")


def _digits(match: re.Match[str]) -> str:
    group = match.group(0)
    digits = re.sub(r"\D", "", group)
    spelled = len(digits) >= 7 or (len(digits) >= 3 and digits[0] == "0") or ("-" in group and len(digits) >= 5)
    if not spelled:
        return group
    return "，".join("".join(_DIGIT_NAMES[d] for d in part) for part in re.split(r"[- ]", group))


def prepare(text: str) -> str:
    """Mandarin text with times, dates and long numbers put the way people read them.

    9:30 -> 9点半, 2024-11-20 -> 2024年11月20日, 13800138000 -> 一三八…, 1,299 -> 1299. Amounts, dates
    and short counts stay digits for cn2an (misaki) to read as quantities.
    """
    text = _THOUSANDS.sub("", _TIME.sub(_time, _DATE.sub(_date, text)))
    return _NUMBER_GROUP.sub(_digits, text)


def sentences(text: str) -> list[str]:
    """The text split after each sentence end, blanks dropped."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def chunks(phonemes: str, limit: int = MAX_PHONEMES) -> list[str]:
    """Phonemes in pieces the model accepts, cut at clause punctuation where possible."""
    if len(phonemes) <= limit:
        return [phonemes]
    out: list[str] = []
    current = ""
    for piece in _CLAUSE.split(phonemes):
        while len(piece) > limit:  # a clause too long on its own: cut at a space, else anywhere
            cut = piece.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            out.extend([current, piece[:cut]] if current else [piece[:cut]])
            current, piece = "", piece[cut:].strip()
        if current and len(current) + 1 + len(piece) > limit:
            out.append(current)
            current = piece
        else:
            current = f"{current} {piece}".strip()
    if current:
        out.append(current)
    return [c for c in out if c]


class KokoroSynthesizer:
    """Kokoro-82M speaking Mandarin with one voice; the model and the G2P load on first use.

    Args:
        voice: the voice file (bot/voice/models.py resolves names to files).
        speed: 1.0 is the voice's natural pace.
        threads: ONNX Runtime intra-op threads.
    """

    name = "kokoro"
    languages = ("zh",)

    def __init__(self, voice: Path, speed: float = 1.0, threads: int = 2) -> None:
        self.voice_path = voice
        self.voice = voice.stem
        self.speed = speed
        self.threads = threads
        self._loaded: tuple[Any, np.ndarray, Any] | None = None  # ONNX session, style table, G2P
        self._lock = threading.Lock()

    def load(self) -> tuple[Any, np.ndarray, Any]:
        """Read the voice, build the ONNX session and the G2P (once).

        Raises:
            VoiceOff: a package or the voice file is missing or corrupt (the message says what to install).
        """
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            try:
                import onnxruntime as ort
                from misaki.zh import ZHG2P
            except ImportError as exc:
                raise VoiceOff(f"the Kokoro voice needs onnxruntime and misaki[zh]: {INSTALL}") from exc
            started = time.perf_counter()
            style = np.frombuffer(read_kokoro_voice(self.voice_path), dtype=np.float32).reshape(-1, 256)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(read_parts(KOKORO_MODEL), options, providers=["CPUExecutionProvider"])
            self._loaded = (session, style, ZHG2P())
            log.info("loaded Kokoro voice %s in %.1fs", self.voice, time.perf_counter() - started)
            return self._loaded

    def with_voice(self, voice: Path) -> KokoroSynthesizer:
        """The same model and G2P (loaded once, shared) speaking with another voice file.

        Raises:
            VoiceOff: the voice file is missing, the wrong size or corrupt.
        """
        session, _, g2p = self.load()
        other = KokoroSynthesizer(voice, self.speed, self.threads)
        other._loaded = (session, np.frombuffer(read_kokoro_voice(voice), dtype=np.float32).reshape(-1, 256), g2p)
        return other

    def phonemize(self, text: str) -> list[str]:
        """The phoneme chunks for a Mandarin text, sentence by sentence (only symbols the model knows)."""
        g2p = self.load()[2]
        out = []
        for sentence in sentences(prepare(text)):
            phonemes, _ = g2p(sentence)
            known = "".join(ch for ch in phonemes if ch in VOCAB).strip()
            if any(ch not in _PUNCTUATION for ch in known):  # punctuation alone would be silence
                out.extend(chunks(known))
        return out

    def _infer(self, phonemes: str) -> np.ndarray:
        session, styles, _ = self.load()
        tokens = [VOCAB[ch] for ch in phonemes]
        feed = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": styles[min(len(tokens), len(styles) - 1)].reshape(1, 256),  # one style row per length
            "speed": np.array([self.speed], dtype=np.float32),
        }
        return np.asarray(session.run(None, feed)[0], dtype=np.float32).reshape(-1)

    def synthesize(self, text: str, language: str | None = None) -> Speech:
        """Speak a Mandarin text (language is accepted for the protocol; the voice is Mandarin).

        Raises:
            SynthesisFailed: nothing speakable in the text, or the model failed.
            VoiceOff: the model, the G2P or the voice is not installed.
        """
        if not text.strip():
            raise SynthesisFailed("nothing to say")
        started = time.perf_counter()
        pieces = self.phonemize(text)
        if not pieces:
            raise SynthesisFailed("nothing speakable in the text")
        gap = np.zeros(int(_PAUSE * RATE), dtype=np.float32)
        out: list[np.ndarray] = []
        try:
            for piece in pieces:
                out.extend([self._infer(piece), gap])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SynthesisFailed(f"Kokoro failed ({type(exc).__name__}: {exc})") from exc
        audio = Audio(np.clip(np.concatenate(out[:-1]), -1.0, 1.0), RATE)
        return Speech(audio, "zh", f"kokoro:{self.voice}", time.perf_counter() - started, self.name)


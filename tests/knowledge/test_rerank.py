"""Re-ranking: the relevance function, locating re-rankers, and re-ordered knowledge-base hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.errors import ModelNotFound
from knowledge.rerank import LEXICAL_WEIGHT, Relevance, Reranker, resolve_reranker_path
from tests.fakes import HashEmbedder


class WordReranker:
    """A stand-in cross-encoder: the score is how often `favourite` occurs in the passage."""

    def __init__(self, favourite: str) -> None:
        self.favourite = favourite
        self.calls: list[tuple[str, list[str]]] = []

    def supports(self, query: str) -> bool:
        return not query.startswith("中")

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        self.calls.append((query, passages))
        return np.array([p.lower().count(self.favourite) for p in passages], dtype=np.float32)


def filled_kb(tmp_path: Path, reranker: WordReranker | None, **settings: object) -> KnowledgeBase:
    kb = KnowledgeBase(
        tmp_path / "kb",
        HashEmbedder(),
        KnowledgeSettings(**settings),  # type: ignore[arg-type]
        reranker=reranker,  # type: ignore[arg-type]
    )
    docs = {
        "shipping": "Shipping is free on orders over fifty euros.",
        "express": "Express shipping costs ten euros and ships today.",
        "returns": "Returns of shipping boxes are free.",
    }
    for doc_id, text in docs.items():
        kb.upsert(doc_id, kb.chunk(doc_id, doc_id.title(), text, f"/kb/{doc_id}"))
    return kb


def test_relevance_without_a_reranker_is_cosine_plus_keyword_overlap() -> None:
    embedder = HashEmbedder()
    relevance = Relevance(embedder, None)

    scores = relevance("free shipping", ["shipping is free", "opening hours", "free gifts"])

    vectors = embedder.encode(["free shipping", "shipping is free", "opening hours", "free gifts"])
    overlap = np.array([1.0, 0.0, 0.5])  # share of the query's keywords found in each text
    np.testing.assert_allclose(scores, vectors[1:] @ vectors[0] + LEXICAL_WEIGHT * overlap, atol=1e-6)
    assert scores[0] == pytest.approx(1.0 + LEXICAL_WEIGHT, abs=1e-5)


def test_relevance_uses_the_reranker_for_queries_it_supports() -> None:
    reranker = WordReranker("euros")
    relevance = Relevance(HashEmbedder(), reranker)  # type: ignore[arg-type]

    assert relevance("price", ["euros euros", "none"]).tolist() == [2.0, 0.0]
    assert relevance("中文问题", ["euros euros", "none"])[0] < 1.0  # cosine, not the reranker
    assert len(reranker.calls) == 1


def test_the_reranker_reorders_hits_and_keeps_top_k(tmp_path: Path) -> None:
    reranker = WordReranker("euros")
    kb = filled_kb(tmp_path, reranker, top_k=2)

    result = kb.search("free shipping")

    assert [h.chunk.document_id for h in result.hits] == ["shipping", "express"]
    assert [h.rerank for h in result.hits] == [1.0, 1.0]
    assert len(reranker.calls[0][1]) == 3  # all candidates were scored, not just top_k
    assert result.hits[0].to_dict()["rerank"] == 1.0


def test_a_high_rerank_score_makes_the_search_confident(tmp_path: Path) -> None:
    kb = filled_kb(tmp_path, WordReranker("euros"), min_score=0.99, min_rerank=1.0)

    assert kb.search("free shipping").confident
    assert not filled_kb(tmp_path / "b", None, min_score=0.99).search("free shipping").confident


def test_unsupported_queries_skip_the_reranker(tmp_path: Path) -> None:
    reranker = WordReranker("euros")
    kb = filled_kb(tmp_path, reranker)

    hits = kb.search("中 shipping").hits

    assert reranker.calls == []
    expected = Relevance(kb.embedder, None)("中 shipping", [kb._embedding_text(h.chunk) for h in hits])
    np.testing.assert_allclose([h.rerank for h in hits], expected, atol=1e-6)


def test_an_unknown_packaged_reranker_is_not_found() -> None:
    with pytest.raises(ModelNotFound, match="'nope'.*known"):
        resolve_reranker_path("packaged:nope")


def test_a_reranker_folder_needs_the_model_and_tokenizer(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"")

    with pytest.raises(ModelNotFound, match="model.onnx and tokenizer.json"):
        resolve_reranker_path(str(tmp_path))


@pytest.mark.parametrize(
    ("query", "supported"), [("Where is my parcel?", True), ("包裹在哪里", False)]
)
def test_english_only_rerankers_skip_chinese_queries(query: str, supported: bool) -> None:
    assert Reranker.supports(object.__new__(Reranker), query) is supported  # type: ignore[arg-type]


def test_rescoring_without_a_cross_encoder_reuses_the_stored_vectors(tmp_path: Path) -> None:
    kb = filled_kb(tmp_path, None)
    calls = kb.embedder.calls

    hits = kb.search("free shipping").hits

    assert kb.embedder.calls == calls + 1  # the query only: the passages were embedded at ingest
    expected = Relevance(kb.embedder, None)("free shipping", [kb._embedding_text(h.chunk) for h in hits])
    np.testing.assert_allclose([h.rerank for h in hits], expected, atol=1e-5)

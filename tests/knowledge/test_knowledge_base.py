"""KnowledgeBase: chunk, upsert, remove, rebuild, persist, and hybrid search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.base import KnowledgeBase, chunk_id
from knowledge.config import KnowledgeSettings
from tests.fakes import HashEmbedder

CORPUS = {
    "shipping": (
        "Shipping",
        "# Shipping\n\n## Standard delivery\n\nStandard delivery takes five business days.\n\n"
        "## International orders\n\nInternational orders clear customs within two weeks.",
    ),
    "returns": (
        "Returns",
        "# Returns\n\nUnworn items can be returned within thirty days for a refund.",
    ),
    "payment": ("Payment", "# Payment\n\nWe accept Visa, Mastercard and PayPal at checkout."),
    "hours": ("Opening hours", "# Opening hours\n\nThe warehouse store opens at nine on weekdays."),
    "warranty": (
        "Warranty",
        "# Warranty\n\nElectronics carry a two year warranty against defects.",
    ),
}


def ingest(kb: KnowledgeBase, doc_id: str, title: str, text: str) -> None:
    kb.upsert(doc_id, kb.chunk(doc_id, title, text, f"/kb/{doc_id}"))


@pytest.fixture
def filled(kb: KnowledgeBase) -> KnowledgeBase:
    for doc_id, (title, text) in CORPUS.items():
        ingest(kb, doc_id, title, text)
    return kb


def test_chunk_ids_are_stable_positive_and_distinct() -> None:
    assert chunk_id("doc", 0) == chunk_id("doc", 0)
    ids = {chunk_id(d, p) for d in ("a", "b") for p in range(50)}
    assert len(ids) == 100
    assert all(0 < i < 2**63 for i in ids)


def test_chunk_builds_records_with_ids_and_anchored_urls(kb: KnowledgeBase) -> None:
    title, text = CORPUS["shipping"]

    records = kb.chunk("shipping", title, text, "/kb/shipping")

    assert [r.id for r in records] == [chunk_id("shipping", 0), chunk_id("shipping", 1)]
    assert [r.url for r in records] == [
        "/kb/shipping#standard-delivery",
        "/kb/shipping#international-orders",
    ]
    assert {r.document_id for r in records} == {"shipping"}
    plain = kb.chunk("returns", *CORPUS["returns"], "/kb/returns")
    assert [r.url for r in plain] == ["/kb/returns"]


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("How long does standard delivery take?", "shipping"),
        ("Can I return unworn items for a refund?", "returns"),
        ("Do you accept PayPal?", "payment"),
        ("When does the warehouse store open?", "hours"),
        ("Is there a warranty on electronics?", "warranty"),
        ("customs for international orders", "shipping"),
    ],
)
def test_hybrid_search_ranks_the_right_document_first(
    filled: KnowledgeBase, query: str, document: str
) -> None:
    result = filled.search(query)

    assert result.hits[0].chunk.document_id == document
    assert result.confident
    assert result.best_score == result.hits[0].score
    assert result.hits[0].dense_rank is not None
    assert result.hits[0].keyword_rank is not None


def test_hits_are_ordered_by_fused_score_and_limited_to_k(filled: KnowledgeBase) -> None:
    result = filled.search("standard delivery refund warranty", k=2)

    assert len(result.hits) == 2
    assert result.hits[0].fused >= result.hits[1].fused
    assert len(filled.search("delivery").hits) <= filled.settings.top_k


def test_a_keyword_only_hit_is_scored_with_its_true_cosine(
    tmp_path: Path, embedder: HashEmbedder
) -> None:
    kb = KnowledgeBase(tmp_path / "kb", embedder, KnowledgeSettings(candidates=1, top_k=5))
    fruit = {
        "a": "apple banana",  # the closest by words shared: dense picks it
        "b": "cherry grape melon kiwi lemon",  # the only 'cherry': BM25 picks it
        "c": "apple orchard tours run daily in autumn season",
        "d": "apple cider vinegar sold in the farm shop",
    }
    for doc_id, text in fruit.items():
        ingest(kb, doc_id, "Fruit", text)
    query = "apple cherry"

    hits = kb.search(query).hits

    assert [(h.chunk.document_id, h.dense_rank, h.keyword_rank) for h in hits] == [
        ("a", 0, None),
        ("b", None, 0),
    ]
    qvec = embedder.encode([query])[0]
    for hit in hits:
        stored = embedder.encode([f"Fruit\n{hit.chunk.text}"])[0]
        assert hit.score == pytest.approx(float(stored @ qvec), abs=1e-5)


def test_hybrid_off_uses_dense_ranks_only(tmp_path: Path, embedder: HashEmbedder) -> None:
    kb = KnowledgeBase(tmp_path / "kb", embedder, KnowledgeSettings(hybrid=False))
    for doc_id, (title, text) in CORPUS.items():
        ingest(kb, doc_id, title, text)

    hits = kb.search("Do you accept PayPal?").hits

    assert hits[0].chunk.document_id == "payment"
    assert all(h.keyword_rank is None for h in hits)


def test_upsert_replaces_a_documents_chunks(filled: KnowledgeBase) -> None:
    before = len(filled)

    ingest(
        filled, "shipping", "Shipping", "# Shipping\n\nAll parcels now travel by bicycle courier."
    )

    assert len(filled) == before - 1
    texts = [c.text for c in filled.store.chunks.values() if c.document_id == "shipping"]
    assert texts == ["All parcels now travel by bicycle courier."]
    assert filled.search("bicycle courier").hits[0].chunk.document_id == "shipping"
    assert all("customs" not in h.chunk.text for h in filled.search("international customs").hits)


def test_remove_drops_the_document_from_both_retrievers(filled: KnowledgeBase) -> None:
    assert filled.remove("payment") == 1
    assert filled.remove("payment") == 0

    hits = filled.search("Do you accept PayPal?").hits
    assert all(h.chunk.document_id != "payment" for h in hits)
    assert filled.keywords.search("paypal", 5) == []


def test_rebuild_replaces_everything(filled: KnowledgeBase) -> None:
    records = filled.chunk("faq", "FAQ", "Gift wrapping costs two euros.", "/kb/faq")

    filled.rebuild(records)

    assert len(filled) == 1
    assert [h.chunk.document_id for h in filled.search("gift wrapping").hits] == ["faq"]
    assert filled.search("PayPal").hits[0].chunk.document_id == "faq"  # nothing else is left


def test_index_persists_across_instances(filled: KnowledgeBase) -> None:
    fresh = HashEmbedder()
    reopened = KnowledgeBase(filled.folder, fresh, filled.settings)

    assert len(reopened) == len(filled)
    assert fresh.calls == 0  # loaded from disk, nothing re-embedded
    hit = reopened.search("Do you accept PayPal?").hits[0]
    assert hit.chunk.document_id == "payment"
    assert hit.keyword_rank == 0  # the BM25 index was rebuilt from the stored chunks


def test_reopening_with_another_model_starts_empty(filled: KnowledgeBase) -> None:
    other = KnowledgeBase(filled.folder, HashEmbedder(name="another-model"), filled.settings)

    assert len(other) == 0
    assert other.search("PayPal").hits == []


def test_identical_chunks_are_returned_once(kb: KnowledgeBase) -> None:
    ingest(kb, "a", "Store A", "Our gift shop opens at ten.")
    ingest(kb, "b", "Store B", "Our  gift shop\nopens at ten.")  # same text, other whitespace
    ingest(kb, "c", "Other", "Parking is free for customers.")

    hits = kb.search("When does the gift shop open?").hits

    gift = [h for h in hits if "gift shop" in h.chunk.text]
    assert len(gift) == 1
    assert len(hits) == 2


def test_not_confident_below_min_score(
    filled: KnowledgeBase, embedder: HashEmbedder, tmp_path: Path
) -> None:
    unrelated = filled.search("zebra saxophone quantum")
    assert not unrelated.confident
    assert unrelated.best_score < filled.settings.min_score

    strict = KnowledgeBase(filled.folder, embedder, KnowledgeSettings(min_score=0.99))
    result = strict.search("Do you accept PayPal?")
    assert result.hits  # still returned, for the trace
    assert not result.confident


@pytest.mark.parametrize("query", ["", "   \n"])
def test_empty_query_finds_nothing(filled: KnowledgeBase, query: str) -> None:
    result = filled.search(query)

    assert (result.hits, result.confident, result.best_score) == ([], False, 0.0)


def test_empty_knowledge_base_finds_nothing(kb: KnowledgeBase) -> None:
    result = kb.search("Do you accept PayPal?")

    assert (result.hits, result.confident) == ([], False)


def test_encode_uses_the_knowledge_base_model(kb: KnowledgeBase, embedder: HashEmbedder) -> None:
    np.testing.assert_array_equal(kb.encode(["refund"]), embedder.encode(["refund"]))


def test_hit_to_dict_is_json_ready(filled: KnowledgeBase) -> None:
    data = filled.search("PayPal").hits[0].to_dict()

    assert data["document_id"] == "payment"
    assert {"score", "fused", "dense_rank", "keyword_rank", "url", "text"} <= set(data)

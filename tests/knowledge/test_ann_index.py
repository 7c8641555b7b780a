"""The approximate (HNSW) index: switches on above the threshold, deletes, persists, compacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.ann import HnswIndex
from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.types import ChunkRecord
from knowledge.vector_store import LABELS_FILE, VectorStore, flat_index
from tests.fakes import HashEmbedder

DIM = 32


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def records(document_id: str, n: int, start: int = 0) -> list[ChunkRecord]:
    return [
        ChunkRecord(start + i + 1, document_id, f"{document_id} {i}", document_id, "", "", "/kb")
        for i in range(n)
    ]


def filled_store(folder: Path, threshold: int = 100) -> tuple[VectorStore, np.ndarray]:
    store = VectorStore(folder, DIM, "test-model", ann_threshold=threshold)
    vectors = unit_vectors(300)
    store.add(records("a", 150), vectors[:150])
    store.add(records("b", 150, start=150), vectors[150:])
    return store, vectors


def test_small_store_stays_exact(tmp_path: Path) -> None:
    store = VectorStore(tmp_path, DIM, "test-model", ann_threshold=100)
    store.add(records("a", 100), unit_vectors(100))

    assert store.kind == "flat"


def test_store_switches_to_hnsw_above_the_threshold_and_finds_the_same(tmp_path: Path) -> None:
    store, vectors = filled_store(tmp_path)

    assert store.kind == "hnsw" and len(store) == 300
    exact = flat_index(DIM)
    exact.add_with_ids(vectors, np.arange(1, 301, dtype=np.int64))
    queries = unit_vectors(20, seed=1)
    _, truth = exact.search(queries, 10)
    found = [[r.id for r, _ in store.search(q, 10)] for q in queries]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth.tolist(), strict=True)])
    assert recall >= 0.95
    top, score = store.search(vectors[42], 1)[0]
    assert top.id == 43 and score == pytest.approx(1.0, abs=1e-5)


def test_deleted_documents_never_come_back(tmp_path: Path) -> None:
    store, vectors = filled_store(tmp_path, threshold=50)

    assert store.remove_document("a") == 150
    assert store.kind == "hnsw"  # 150 left: still above half the threshold
    for q in vectors[:150:10]:
        assert all(r.document_id == "b" for r, _ in store.search(q, 10))
    assert len(store.search(vectors[0], 500)) == 150


def test_re_adding_a_document_replaces_its_vectors(tmp_path: Path) -> None:
    store, vectors = filled_store(tmp_path, threshold=50)
    moved = unit_vectors(150, seed=7)

    store.remove_document("a")
    store.add(records("a", 150), moved)

    assert len(store) == 300 and store.index.ntotal == 300
    assert store.search(moved[3], 1)[0][0].id == 4
    np.testing.assert_allclose(store.vectors_for([4])[0], moved[3], atol=1e-6)


def test_tombstones_are_compacted(tmp_path: Path) -> None:
    index = HnswIndex(DIM)
    vectors = unit_vectors(200)
    index.add_with_ids(vectors, np.arange(200, dtype=np.int64))

    index.remove_ids(np.arange(0, 40, dtype=np.int64))
    assert index.tombstones == 40 and index.ntotal == 160
    index.remove_ids(np.arange(40, 60, dtype=np.int64))  # 60 of 200 dead > 25%: rebuilt

    assert index.tombstones == 0 and index.graph.ntotal == 140
    _, ids = index.search(vectors[100], 1)
    assert ids[0][0] == 100


def test_hnsw_store_persists_and_reopens(tmp_path: Path) -> None:
    store, vectors = filled_store(tmp_path)
    store.remove_document("a")
    store.add(records("c", 60, start=400), unit_vectors(60, seed=3))
    store.save()

    reopened = VectorStore.open(tmp_path, DIM, "test-model", ann_threshold=100)

    assert reopened.kind == "hnsw" and (tmp_path / LABELS_FILE).exists()
    assert len(reopened) == 210
    assert reopened.search(vectors[200], 1)[0][0].id == 201
    assert all(r.document_id != "a" for r, _ in reopened.search(vectors[5], 20))


def test_store_goes_back_to_flat_when_it_shrinks(tmp_path: Path) -> None:
    store, vectors = filled_store(tmp_path, threshold=200)
    assert store.kind == "hnsw"

    store.remove_document("a")  # 150 left, not below half the threshold (100): stays
    assert store.kind == "hnsw"
    store.remove_document("b")
    store.add(records("d", 50), vectors[:50])

    assert store.kind == "flat" and len(store) == 50
    assert store.search(vectors[10], 1)[0][0].id == 11


def test_clear_goes_back_to_flat(tmp_path: Path) -> None:
    store, _ = filled_store(tmp_path)

    store.clear()

    assert store.kind == "flat" and len(store) == 0 and store.search(unit_vectors(1)[0], 3) == []


def test_knowledge_base_honours_the_threshold_setting(tmp_path: Path) -> None:
    settings = KnowledgeSettings(ann_threshold=5, chunk_chars=200, overlap_chars=0)
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), settings)
    texts = [f"Topic {n}: the store opens at {n} o'clock on day {n}." for n in range(12)]
    for n, text in enumerate(texts):
        kb.upsert(f"doc{n}", kb.chunk(f"doc{n}", f"Doc {n}", text, f"/kb/doc{n}"))

    assert kb.store.kind == "hnsw"
    assert kb.search("Topic 7 opens at 7 o'clock").hits[0].chunk.document_id == "doc7"
    kb.remove("doc7")
    assert all(h.chunk.document_id != "doc7" for h in kb.search("Topic 7", k=10).hits)
    reopened = KnowledgeBase(tmp_path / "kb", HashEmbedder(), settings)
    assert reopened.store.kind == "hnsw" and len(reopened) == 11

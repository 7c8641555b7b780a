"""The FAISS vector store: add, search, delete by document, and persistence to a folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from knowledge.types import ChunkRecord
from knowledge.vector_store import CHUNKS_FILE, INDEX_FILE, VectorStore
from tests.fakes import HashEmbedder, make_record

TEXTS = {
    ("shipping", 1): "Standard shipping takes five business days.",
    ("shipping", 2): "Express shipping arrives the next morning.",
    ("returns", 3): "Returns are accepted within thirty days of delivery.",
    ("hours", 4): "Our store opens at nine and closes at six.",
}
MakeStore = Callable[[Path], VectorStore]


def records() -> list[ChunkRecord]:
    return [make_record(text, chunk_id=cid, document_id=doc) for (doc, cid), text in TEXTS.items()]


class VectorStoreContract:
    """Behaviour every vector store backend must have; subclasses provide `make_store`."""

    @pytest.fixture
    def embedder(self) -> HashEmbedder:
        return HashEmbedder(dim=256)

    @pytest.fixture
    def filled(self, make_store: MakeStore, tmp_path: Path, embedder: HashEmbedder) -> VectorStore:
        store = make_store(tmp_path / "index")
        recs = records()
        store.add(recs, embedder.encode([r.text for r in recs]))
        return store

    def test_search_returns_the_nearest_chunk_first_with_its_cosine(
        self, filled: VectorStore, embedder: HashEmbedder
    ) -> None:
        query = embedder.encode(["Returns are accepted within thirty days of delivery."])[0]

        hits = filled.search(query, 2)

        assert [rec.id for rec, _ in hits][0] == 3
        assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
        assert len(hits) == 2
        assert hits[0][1] >= hits[1][1]

    def test_search_with_k_above_size_returns_everything(
        self, filled: VectorStore, embedder: HashEmbedder
    ) -> None:
        hits = filled.search(embedder.encode(["shipping"])[0], 50)

        assert sorted(rec.id for rec, _ in hits) == [1, 2, 3, 4]

    def test_empty_store_finds_nothing(
        self, make_store: MakeStore, tmp_path: Path, embedder: HashEmbedder
    ) -> None:
        store = make_store(tmp_path / "empty")

        assert len(store) == 0
        assert store.search(embedder.encode(["anything"])[0], 5) == []

    def test_add_refuses_misaligned_vectors(self, make_store: MakeStore, tmp_path: Path) -> None:
        store = make_store(tmp_path / "x")

        with pytest.raises(ValueError, match="differ"):
            store.add(records(), np.zeros((2, 256), dtype=np.float32))

    def test_remove_document_drops_only_its_chunks(
        self, filled: VectorStore, embedder: HashEmbedder
    ) -> None:
        assert filled.remove_document("shipping") == 2
        assert filled.remove_document("shipping") == 0
        assert filled.remove_document("no-such-doc") == 0

        assert len(filled) == 2
        hits = filled.search(
            embedder.encode(["Standard shipping takes five business days."])[0], 10
        )
        assert sorted(rec.document_id for rec, _ in hits) == ["hours", "returns"]

    def test_vectors_for_returns_the_stored_vectors(
        self, filled: VectorStore, embedder: HashEmbedder
    ) -> None:
        expected = embedder.encode([TEXTS[("hours", 4)], TEXTS[("shipping", 1)]])

        np.testing.assert_allclose(filled.vectors_for([4, 1]), expected, atol=1e-6)

    def test_clear_empties_the_store(self, filled: VectorStore, embedder: HashEmbedder) -> None:
        filled.clear()

        assert len(filled) == 0
        assert filled.search(embedder.encode(["shipping"])[0], 3) == []


class TestFaissVectorStore(VectorStoreContract):
    """The flat FAISS store, plus its on-disk format."""

    @pytest.fixture
    def make_store(self) -> MakeStore:
        return lambda folder: VectorStore(folder, 256, "hash-bow")

    def test_save_and_open_round_trip(self, filled: VectorStore, embedder: HashEmbedder) -> None:
        filled.remove_document("hours")
        filled.save()

        reopened = VectorStore.open(filled.folder, 256, "hash-bow")

        assert reopened.chunks == filled.chunks
        query = embedder.encode(["express next morning"])[0]
        assert [(r.id, round(s, 5)) for r, s in reopened.search(query, 3)] == [
            (r.id, round(s, 5)) for r, s in filled.search(query, 3)
        ]
        assert sorted(p.name for p in filled.folder.iterdir()) == [CHUNKS_FILE, INDEX_FILE]

    def test_saved_metadata_names_the_model(self, filled: VectorStore) -> None:
        filled.save()

        meta = json.loads((filled.folder / CHUNKS_FILE).read_text(encoding="utf-8"))
        assert (meta["model"], meta["dim"], len(meta["chunks"])) == ("hash-bow", 256, 4)

    @pytest.mark.parametrize(("dim", "model"), [(256, "another-model"), (128, "hash-bow")])
    def test_open_of_a_store_built_with_another_model_is_empty(
        self, filled: VectorStore, dim: int, model: str
    ) -> None:
        filled.save()

        reopened = VectorStore.open(filled.folder, dim, model)

        assert len(reopened) == 0
        assert (reopened.dim, reopened.model_name) == (dim, model)

    def test_open_of_a_missing_folder_is_empty(self, tmp_path: Path) -> None:
        assert len(VectorStore.open(tmp_path / "nowhere", 256, "hash-bow")) == 0

    def test_open_of_mismatched_index_and_metadata_is_empty(self, filled: VectorStore) -> None:
        filled.save()
        meta_path = filled.folder / CHUNKS_FILE
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["chunks"] = meta["chunks"][:1]
        meta_path.write_text(json.dumps(meta), encoding="utf-8")

        assert len(VectorStore.open(filled.folder, 256, "hash-bow")) == 0

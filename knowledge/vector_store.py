"""A FAISS inner-product index per bot, with chunk metadata, persisted to one folder.

Small indexes are exact (flat). Above `ann_threshold` chunks the store moves its vectors into
an HNSW graph (knowledge/ann.py: deletes by tombstone plus compaction); below half the
threshold it moves back, so a bot near the line does not flip on every upsert.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import faiss
import numpy as np

from knowledge.ann import HnswIndex
from knowledge.types import ChunkRecord

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.json"
LABELS_FILE = "labels.npy"  # HNSW only: graph position -> chunk id
DEFAULT_ANN_THRESHOLD = 50_000


def flat_index(dim: int) -> faiss.IndexIDMap2:
    """An exact inner-product index keyed by chunk id."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


class VectorStore:
    """Cosine search over unit vectors (exact, or HNSW when big); add and delete by document."""

    def __init__(
        self,
        folder: Path,
        dim: int,
        model_name: str,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        ef_search: int = 128,
    ) -> None:
        self.folder = folder
        self.dim = dim
        self.model_name = model_name
        self.ann_threshold = ann_threshold
        self.ef_search = ef_search
        self.index: faiss.IndexIDMap2 | HnswIndex = flat_index(dim)
        self.chunks: dict[int, ChunkRecord] = {}
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        folder: Path,
        dim: int,
        model_name: str,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        ef_search: int = 128,
    ) -> VectorStore:
        """Load the store from folder; empty if it is missing, unreadable or for another model."""
        store = cls(folder, dim, model_name, ann_threshold, ef_search)
        meta_path = folder / CHUNKS_FILE
        if not (folder / INDEX_FILE).exists() or not meta_path.exists():
            return store
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model") != model_name or meta.get("dim") != dim:
            return store  # stale: built with another model, caller rebuilds
        try:
            if meta.get("index") == "hnsw":
                store.index = HnswIndex.read(
                    folder / INDEX_FILE, folder / LABELS_FILE, dim, ef_search
                )
            else:
                store.index = faiss.read_index(str(folder / INDEX_FILE))
        except (OSError, ValueError, RuntimeError):
            return cls(folder, dim, model_name, ann_threshold, ef_search)
        store.chunks = {int(c["id"]): ChunkRecord(**c) for c in meta["chunks"]}
        if store.index.ntotal != len(store.chunks):
            return cls(folder, dim, model_name, ann_threshold, ef_search)
        return store

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def kind(self) -> str:
        """'flat' (exact) or 'hnsw' (approximate)."""
        return "hnsw" if isinstance(self.index, HnswIndex) else "flat"

    def add(self, records: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add chunks with their unit vectors (rows aligned with records)."""
        if len(records) != len(vectors):
            raise ValueError("records and vectors differ in length")
        if not records:
            return
        ids = np.array([r.id for r in records], dtype=np.int64)
        with self._lock:
            if self.kind == "flat" and len(self.chunks) + len(records) > self.ann_threshold:
                self._move_to(HnswIndex(self.dim, self.ef_search))
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            self.chunks.update({r.id: r for r in records})

    def remove_document(self, document_id: str) -> int:
        """Drop every chunk of a document; returns how many were removed."""
        with self._lock:
            ids = [cid for cid, c in self.chunks.items() if c.document_id == document_id]
            if ids:
                self.index.remove_ids(np.array(ids, dtype=np.int64))
                for cid in ids:
                    del self.chunks[cid]
            if self.kind == "hnsw" and len(self.chunks) < self.ann_threshold // 2:
                self._move_to(flat_index(self.dim))
            return len(ids)

    def _move_to(self, target: faiss.IndexIDMap2 | HnswIndex) -> None:
        """Copy every live vector into another kind of index and use it from now on."""
        if isinstance(self.index, HnswIndex):
            ids, vectors = self.index.live()
        else:
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            vectors = self.index.index.reconstruct_n(0, int(self.index.ntotal))
        if len(ids):
            target.add_with_ids(vectors, ids)
        self.index = target

    def clear(self) -> None:
        """Remove everything (and go back to an exact index)."""
        with self._lock:
            self.index = flat_index(self.dim)
            self.chunks.clear()

    def search(self, vector: np.ndarray, k: int) -> list[tuple[ChunkRecord, float]]:
        """The k nearest chunks to a unit query vector, best first, with cosine scores."""
        with self._lock:
            if not self.chunks:
                return []
            query = vector.reshape(1, -1).astype(np.float32)
            scores, ids = self.index.search(query, min(k, len(self.chunks)))
            return [
                (self.chunks[int(i)], float(s))
                for s, i in zip(scores[0], ids[0], strict=True)
                if i >= 0 and int(i) in self.chunks
            ]

    def vectors_for(self, ids: list[int]) -> np.ndarray:
        """The stored vectors of the given chunk ids."""
        with self._lock:
            if not ids:
                return np.zeros((0, self.dim))
            return np.vstack([self.index.reconstruct(int(i)) for i in ids])

    def save(self) -> None:
        """Write the index and metadata atomically (write to temp files, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {
                "model": self.model_name,
                "dim": self.dim,
                "index": self.kind,
                "chunks": [c.to_dict() for c in self.chunks.values()],
            }
            tmp_index = self.folder / (INDEX_FILE + ".tmp")
            tmp_meta = self.folder / (CHUNKS_FILE + ".tmp")
            tmp_labels = self.folder / (LABELS_FILE + ".tmp")
            if isinstance(self.index, HnswIndex):
                self.index.write(tmp_index, tmp_labels)
            else:
                faiss.write_index(self.index, str(tmp_index))
            tmp_meta.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            if tmp_labels.exists():
                os.replace(tmp_labels, self.folder / LABELS_FILE)
            os.replace(tmp_index, self.folder / INDEX_FILE)
            os.replace(tmp_meta, self.folder / CHUNKS_FILE)

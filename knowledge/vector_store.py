"""A FAISS inner-product index per bot, with chunk metadata, persisted to one folder."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import faiss
import numpy as np

from knowledge.types import ChunkRecord

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.json"


class VectorStore:
    """Exact (flat) cosine search over unit vectors, with add and delete by document."""

    def __init__(self, folder: Path, dim: int, model_name: str) -> None:
        self.folder = folder
        self.dim = dim
        self.model_name = model_name
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.chunks: dict[int, ChunkRecord] = {}
        self._lock = threading.RLock()

    @classmethod
    def open(cls, folder: Path, dim: int, model_name: str) -> VectorStore:
        """Load the store from folder, or start an empty one if it is missing or for another model."""
        store = cls(folder, dim, model_name)
        meta_path = folder / CHUNKS_FILE
        if not (folder / INDEX_FILE).exists() or not meta_path.exists():
            return store
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model") != model_name or meta.get("dim") != dim:
            return store  # stale: built with another model, caller rebuilds
        store.index = faiss.read_index(str(folder / INDEX_FILE))
        store.chunks = {int(c["id"]): ChunkRecord(**c) for c in meta["chunks"]}
        if store.index.ntotal != len(store.chunks):
            return cls(folder, dim, model_name)
        return store

    def __len__(self) -> int:
        return len(self.chunks)

    def add(self, records: list[ChunkRecord], vectors: np.ndarray) -> None:
        """Add chunks with their unit vectors (rows aligned with records)."""
        if len(records) != len(vectors):
            raise ValueError("records and vectors differ in length")
        if not records:
            return
        ids = np.array([r.id for r in records], dtype=np.int64)
        with self._lock:
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
            return len(ids)

    def clear(self) -> None:
        """Remove everything."""
        with self._lock:
            self.index.reset()
            self.chunks.clear()

    def search(self, vector: np.ndarray, k: int) -> list[tuple[ChunkRecord, float]]:
        """The k nearest chunks to a unit query vector, best first, with cosine scores."""
        with self._lock:
            if not self.chunks:
                return []
            scores, ids = self.index.search(vector.reshape(1, -1).astype(np.float32), min(k, len(self.chunks)))
            return [(self.chunks[int(i)], float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def vectors_for(self, ids: list[int]) -> np.ndarray:
        """The stored vectors of the given chunk ids."""
        with self._lock:
            return np.vstack([self.index.reconstruct(int(i)) for i in ids]) if ids else np.zeros((0, self.dim))

    def save(self) -> None:
        """Write the index and metadata atomically (write to temp files, then rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {
                "model": self.model_name,
                "dim": self.dim,
                "chunks": [c.to_dict() for c in self.chunks.values()],
            }
            tmp_index = self.folder / (INDEX_FILE + ".tmp")
            tmp_meta = self.folder / (CHUNKS_FILE + ".tmp")
            faiss.write_index(self.index, str(tmp_index))
            tmp_meta.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp_index, self.folder / INDEX_FILE)
            os.replace(tmp_meta, self.folder / CHUNKS_FILE)

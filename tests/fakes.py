"""Test doubles shared by the test packages: a hashed bag-of-words embedder and small helpers.

`HashEmbedder` has the surface of `knowledge.embeddings.Embedder` (name, dim, spec, backend,
load_seconds, encode) but needs no model: texts that share words get similar vectors,
deterministically.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import numpy as np

from bot.generation.base import GenerationRequest
from knowledge.keyword import STOPWORDS
from knowledge.types import ChunkRecord, Hit

# Latin/digit words whole; CJK one character per token (no segmenter needed).
TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)
EMPTY_TOKEN = "\x00empty"


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without common English stop words."""
    return [t for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "big")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


class HashEmbedder:
    """A deterministic stand-in for `knowledge.embeddings.Embedder` (signed feature hashing)."""

    def __init__(self, dim: int = 512, name: str = "hash-bow") -> None:
        self.dim = dim
        self.name = name
        self.spec = f"fake:{name}"
        self.backend = "hash"
        self.load_seconds = 0.0
        self.calls = 0  # how many times encode ran, for tests that count re-embedding

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts as float32 unit rows of shape (len(texts), dim)."""
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokens(text) or [EMPTY_TOKEN]:
                index, sign = _bucket(token, self.dim)
                out[row, index] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:  # every token cancelled out: still return a unit row
                out[row, _bucket(EMPTY_TOKEN, self.dim)[0]] = 1.0
            else:
                out[row] /= norm
        return out


def make_record(
    text: str,
    *,
    chunk_id: int = 1,
    document_id: str = "doc",
    title: str = "Help",
    section: str = "",
    anchor: str = "",
    url: str = "/kb/help",
) -> ChunkRecord:
    """A chunk record with sensible defaults."""
    return ChunkRecord(chunk_id, document_id, text, title, section, anchor, url)


def make_hit(text: str, *, score: float = 0.8, chunk_id: int = 1, **fields: str) -> Hit:
    """A search hit around a chunk made by make_record."""
    return Hit(make_record(text, chunk_id=chunk_id, **fields), score, 0.03, 0, 0)


class ScriptedGenerator:
    """A generation backend that streams fixed pieces, then optionally raises."""

    def __init__(
        self,
        pieces: list[str],
        error: Exception | None = None,
        backend: str = "fake",
        model: str = "fake-model",
    ) -> None:
        self.pieces = pieces
        self.error = error
        self.backend = backend
        self.model = model
        self.requests: list[GenerationRequest] = []

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the scripted pieces, stopping on cancel; raise the scripted error at the end."""
        self.requests.append(request)
        for piece in self.pieces:
            if request.cancel.is_set():
                return
            yield piece
        if self.error is not None:
            raise self.error

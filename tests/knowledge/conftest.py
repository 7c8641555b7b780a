"""Fixtures for the knowledge tests: a hashed bag-of-words embedder and a small knowledge base."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/fakes.py is imported as `tests.fakes`; pytest's default import mode does not put the
# repository root on sys.path when it is started as `.venv/bin/pytest`.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.config import KnowledgeSettings  # noqa: E402
from tests.fakes import HashEmbedder  # noqa: E402


@pytest.fixture
def embedder() -> HashEmbedder:
    """A fresh fake embedding model."""
    return HashEmbedder()


@pytest.fixture
def kb_settings() -> KnowledgeSettings:
    """Small chunks so short test documents still split."""
    return KnowledgeSettings(
        chunk_chars=400, overlap_chars=80, top_k=3, candidates=10, min_score=0.3
    )


@pytest.fixture
def kb(tmp_path: Path, embedder: HashEmbedder, kb_settings: KnowledgeSettings) -> KnowledgeBase:
    """An empty knowledge base in a temporary folder."""
    return KnowledgeBase(tmp_path / "kb", embedder, kb_settings)

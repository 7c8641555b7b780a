"""BM25 keyword search over chunks; Chinese is segmented with jieba, other text by words."""

from __future__ import annotations

import logging
import re
import threading
from functools import cache
from types import ModuleType

import bm25s
import numpy as np

from knowledge.types import ChunkRecord

logging.getLogger("bm25s").setLevel(logging.WARNING)

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\W_\u3400-\u9fff\uf900-\ufaff]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "me",
        "we",
        "us",
    ]
)


@cache
def _jieba() -> ModuleType:
    """jieba, imported on first Chinese text (its dictionary takes a moment to load)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stop words; CJK runs segmented by jieba."""
    tokens: list[str] = []
    for match in WORD.finditer(text.lower()):
        token = match.group(0)
        if CJK.fullmatch(token):
            tokens.extend(t for t in _jieba().lcut(token) if t.strip())
        elif token not in STOPWORDS:
            tokens.append(token.rstrip("s") if len(token) > 4 else token)
    return tokens


class KeywordIndex:
    """An in-memory BM25 index, rebuilt from the chunk list whenever it changes."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._bm25: bm25s.BM25 | None = None
        self._lock = threading.Lock()

    def rebuild(self, chunks: list[ChunkRecord]) -> None:
        """Index the given chunks (title and section count as text)."""
        corpus = [tokenize(f"{c.title} {c.section} {c.text}") for c in chunks]
        bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index(corpus, show_progress=False)
        with self._lock:
            self._ids = [c.id for c in chunks]
            self._bm25 = bm25

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores for the query, best first; only positive scores."""
        tokens = tokenize(query)
        with self._lock:
            if self._bm25 is None or not tokens:
                return []
            vocab = self._bm25.vocab_dict
            known = [t for t in tokens if t in vocab]
            if not known:
                return []
            docs, scores = self._bm25.retrieve([known], k=min(k, len(self._ids)), show_progress=False)
            return [
                (self._ids[int(d)], float(s))
                for d, s in zip(np.asarray(docs)[0], np.asarray(scores)[0], strict=True)
                if s > 0
            ]

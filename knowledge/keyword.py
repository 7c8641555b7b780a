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

# Chinese function words that match everywhere and say nothing about the topic
ZH_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "是",
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "在",
        "有",
        "和",
        "与",
        "或",
        "就",
        "都",
        "也",
        "要",
        "会",
        "能",
        "可以",
        "怎么",
        "什么",
        "如何",
        "为什么",
        "怎么样",
        "怎样",
        "哪",
        "哪里",
        "几",
        "多少",
        "请问",
        "请",
        "一下",
        "这",
        "那",
        "这个",
        "那个",
        "个",
        "把",
        "被",
        "给",
        "让",
        "对",
        "从",
        "到",
        "？",
        "，",
        "。",
    ]
)


@cache
def _jieba() -> ModuleType:
    """jieba, imported on first Chinese text (its dictionary takes a moment to load)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def is_cjk(text: str) -> bool:
    """Whether more than a fifth of the text's non-space characters are Chinese/Japanese/Korean ideographs."""
    chars = "".join(text.split())
    return bool(chars) and sum(len(run) for run in CJK.findall(chars)) > 0.2 * len(chars)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stop words; CJK runs segmented by jieba."""
    tokens: list[str] = []
    for match in WORD.finditer(text.lower()):
        token = match.group(0)
        if CJK.fullmatch(token):
            tokens.extend(t for t in _jieba().lcut(token) if t.strip() and t not in ZH_STOPWORDS)
        elif token not in STOPWORDS:
            tokens.append(token.rstrip("s") if len(token) > 4 else token)
    return tokens


class KeywordIndex:
    """An in-memory BM25 index, rebuilt from the chunk list whenever it changes.

    Each chunk's tokens are kept, so a rebuild after adding one document only tokenises that
    document's chunks (tokenising, not BM25 itself, was most of the cost of a rebuild).
    """

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._bm25: bm25s.BM25 | None = None
        self._lock = threading.Lock()
        self._tokens: dict[int, tuple[str, list[str]]] = {}  # chunk id -> (its text, its tokens)

    def _tokens_of(self, chunk: ChunkRecord) -> list[str]:
        text = f"{chunk.title} {chunk.section} {chunk.text}"
        cached = self._tokens.get(chunk.id)
        if cached is None or cached[0] != text:
            cached = self._tokens[chunk.id] = (text, tokenize(text))
        return cached[1]

    def rebuild(self, chunks: list[ChunkRecord]) -> None:
        """Index the given chunks (title and section count as text)."""
        corpus = [self._tokens_of(c) for c in chunks]
        live = {c.id for c in chunks}
        for gone in [cid for cid in self._tokens if cid not in live]:
            del self._tokens[gone]
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

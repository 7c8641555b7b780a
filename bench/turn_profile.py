"""Where one turn's time goes: N turns in-process through the real runtime of the demo bot.

The demo bot is seeded into a fresh folder (SQLite) once per configuration, then every turn runs
exactly as a websocket turn does (`BotRuntime.answer`: intent -> rules -> retrieval -> extractive
answer). Reported per configuration:

- per-stage wall ms p50/p95, from the trace's `stages` (what the server stores with each reply);
- per-component wall ms per turn (query embedding, intent encoders, BM25, cross-encoder) from timers
  wrapped around the loaded models' methods for the run;
- process CPU ms per turn (every thread: torch and onnxruntime run their own), and turns/s;
- with `--cprofile`, the functions with the most cumulative and the most own time, per configuration.

Configurations run in the same process and are compared (ratios) with the first, the baseline:

    before       as before the throughput work: torch on 2 threads for every call, onnxruntime on 2
                 spinning threads, no caches
    threads      one intra-op thread for query-time calls, onnxruntime without spinning; caches off
    cached       the defaults now: `threads` plus the exact-text caches (query vectors, intent vectors,
                 relevance scores), so a repeated question skips the models
    no-rerank    `threads` with FRONTDESK_KNOWLEDGE__RERANKER=none
    cached-no-rerank  the defaults (caches on) with FRONTDESK_KNOWLEDGE__RERANKER=none

Questions come from server/demo/eval_questions.csv. `--unique` suffixes each turn's question with a
number so no two turns repeat (a cache can then only hit on nothing), which measures the cold path.

    .venv/bin/python bench/turn_profile.py --turns 40 [--configs before,threads,cached] [--cprofile]
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import REPO, json_line, machine, print_table, ratio  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    # as before the throughput work: 2 torch threads for every call, onnxruntime 2 spinning threads, no caches
    "before": {"knowledge": {}, "cache": False, "legacy_threads": True},
    "threads": {"knowledge": {}, "cache": False, "legacy_threads": False},  # one thread per small call
    "cached": {"knowledge": {}, "cache": True, "legacy_threads": False},  # the defaults now
    "no-rerank": {"knowledge": {"reranker": "none"}, "cache": False, "legacy_threads": False},
    "cached-no-rerank": {"knowledge": {"reranker": "none"}, "cache": True, "legacy_threads": False},
}


_DEFAULT_SMALL_BATCH: dict[str, int] = {}  # knowledge.embeddings.SMALL_BATCH as shipped, before `before` zeroes it


class Timers:
    """Wall milliseconds per named component, accumulated per turn."""

    def __init__(self) -> None:
        self.turn: dict[str, float] = defaultdict(float)
        self.per_turn: dict[str, list[float]] = defaultdict(list)

    def wrap(self, owner: object, method: str, name: str) -> None:
        """Time every call of owner.method (an instance attribute shadows the class's method)."""
        original: Callable[..., Any] = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.turn[name] += (time.perf_counter() - started) * 1000

        setattr(owner, method, timed)

    def end_turn(self, names: list[str]) -> None:
        """Close a turn: every known component gets a figure, 0 when it did not run."""
        for name in names:
            self.per_turn[name].append(self.turn.get(name, 0.0))
        self.turn.clear()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))], 1) if ordered else 0.0


def instrument(runtime: Any, timers: Timers) -> list[str]:
    """Wrap the runtime's model calls with timers; returns the component names."""
    names: list[str] = []
    kb = runtime.knowledge
    timers.wrap(kb.embedder, "encode", "query_embed")
    names.append("query_embed")
    if hasattr(kb.embedder, "encode_passages"):  # the extractive answer's windows, kept across questions
        timers.wrap(kb.embedder, "encode_passages", "passage_embed")
        names.append("passage_embed")
    timers.wrap(kb.keywords, "search", "bm25")
    names.append("bm25")
    if kb.reranker is not None:
        timers.wrap(kb.reranker, "score", "cross_encoder")
        names.append("cross_encoder")
    intents = runtime.intents
    if intents is not None:
        if intents.encoder is not None:  # fine-tuned body; with a frozen head the shared embedder does it
            timers.wrap(intents.encoder, "encode", "intent_encoder")
            names.append("intent_encoder")
        if intents.companion is not None:
            timers.wrap(intents.companion, "encode", "intent_companion")
            names.append("intent_companion")
    return names


def configure(runtime: Any, cache: bool, legacy_threads: bool) -> None:
    """Turn the caches off, and for `before` restore the old thread settings, on this runtime's models."""
    import onnxruntime as ort

    import bot.intents.classifier as classifier
    import knowledge.embeddings as embeddings

    _DEFAULT_SMALL_BATCH.setdefault("value", embeddings.SMALL_BATCH)
    small = 0 if legacy_threads else _DEFAULT_SMALL_BATCH["value"]
    embeddings.SMALL_BATCH = classifier.SMALL_BATCH = small
    if not cache:
        runtime.knowledge.embedder.cache_size = 0
        if hasattr(runtime.knowledge.embedder, "passage_cache_size"):
            runtime.knowledge.embedder.passage_cache_size = 0
        runtime.knowledge.relevance.cache_size = 0
        generator_relevance = getattr(runtime.generator, "relevance", None)
        if generator_relevance is not None:
            generator_relevance.cache_size = 0
        if runtime.intents is not None:
            runtime.intents.prediction_cache_size = 0
            if runtime.intents.companion is not None:
                runtime.intents.companion.cache_size = 0
    reranker = runtime.knowledge.reranker
    if legacy_threads and reranker is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        reranker.session = ort.InferenceSession(
            str(reranker.path / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )


def configure_defaults() -> None:
    """Undo configure()'s module-level change for the next configuration."""
    import bot.intents.classifier as classifier
    import knowledge.embeddings as embeddings

    if "value" in _DEFAULT_SMALL_BATCH:
        embeddings.SMALL_BATCH = classifier.SMALL_BATCH = _DEFAULT_SMALL_BATCH["value"]


def run_config(name: str, questions: list[str], turns: int, method: str, profile: bool) -> dict[str, Any]:
    """Seed the demo bot with this configuration and run `turns` turns; returns the figures."""
    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import seed_demo
    from server.settings import Settings

    config = CONFIGS[name]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,
            data_dir=Path(folder),
            intent_method=method,
            knowledge=KnowledgeSettings(**config["knowledge"]),
        )
        services = Services.open(settings)
        try:
            seed_demo(services.runtimes)
            runtime = services.runtimes.get("demo")
            configure(runtime, config["cache"], config["legacy_threads"])
            runtime.answer("warm-up question about shipping")
            timers = Timers()
            names = instrument(runtime, timers)
            stage_ms: dict[str, list[float]] = defaultdict(list)
            wall: list[float] = []
            cpu: list[float] = []
            trace_bytes: list[int] = []
            profiler = cProfile.Profile() if profile else None
            started_all = time.perf_counter()
            for i in range(turns):
                text = questions[i % len(questions)]
                if profiler is not None:
                    profiler.enable()
                started, cpu_started = time.perf_counter(), time.process_time()
                reply = runtime.answer(text)
                wall.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
                if profiler is not None:
                    profiler.disable()
                timers.end_turn(names)
                for record in reply.trace.stages:
                    stage_ms[record.stage].append(record.ms)
                trace_bytes.append(len(json.dumps(reply.trace.to_dict(), default=str)))
            elapsed = time.perf_counter() - started_all
        finally:
            services.close()
            configure_defaults()
    result: dict[str, Any] = {
        "config": name,
        "turns": turns,
        "turns_per_s": round(turns / elapsed, 2),
        "turn_ms_p50": _quantile(wall, 0.5),
        "turn_ms_p95": _quantile(wall, 0.95),
        "cpu_ms_p50": _quantile(cpu, 0.5),
        "stages": {s: {"p50": _quantile(v, 0.5), "p95": _quantile(v, 0.95)} for s, v in stage_ms.items()},
        "components": {c: {"p50": _quantile(v, 0.5), "p95": _quantile(v, 0.95)} for c, v in timers.per_turn.items()},
    }
    if trace_bytes and any(trace_bytes):
        result["trace_bytes_p50"] = _quantile([float(b) for b in trace_bytes], 0.5)
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        out.write("\nby own time:\n")
        stats.sort_stats("tottime").print_stats(25)
        result["cprofile"] = out.getvalue()
    return result


def main() -> None:
    """Parse arguments, run the configurations and print the tables and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=40, help="turns per configuration")
    parser.add_argument("--configs", default="before,threads,cached", help=f"comma list of {sorted(CONFIGS)}")
    parser.add_argument(
        "--intent-method",
        default="frozen",
        choices=["auto", "finetune", "frozen"],
        help="how the demo's intents are trained (auto fine-tunes MiniLM: minutes on a CPU)",
    )
    parser.add_argument("--unique", action="store_true", help="never repeat a question (caches cannot hit)")
    parser.add_argument("--cprofile", action="store_true", help="print cProfile's top functions of every config")
    args = parser.parse_args()
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; known: {sorted(CONFIGS)}")
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    with (REPO / "server" / "demo" / "eval_questions.csv").open(encoding="utf-8") as handle:
        base_questions = [row["question"] for row in csv.DictReader(handle)]
    def questions(config: int) -> list[str]:
        # Per configuration: some caches live per process (the intent companion), so a later configuration
        # must not find the earlier one's questions.
        if not args.unique:
            return base_questions
        return [f"{base_questions[i % len(base_questions)]} ({config}-{i})" for i in range(args.turns)]

    results = [
        run_config(name, questions(n), args.turns, args.intent_method, args.cprofile) for n, name in enumerate(names)
    ]
    base = results[0]
    rows = []
    for r in results:
        row = {k: r[k] for k in ("config", "turns", "turns_per_s", "turn_ms_p50", "turn_ms_p95", "cpu_ms_p50")}
        row["turns/s ×"] = ratio(r["turns_per_s"], base["turns_per_s"])
        row["p50 ×"] = ratio(r["turn_ms_p50"], base["turn_ms_p50"])
        for stage, figures in r["stages"].items():
            row[f"{stage} p50"] = figures["p50"]
        for component, figures in r["components"].items():
            row[f"{component} p50"] = figures["p50"]
        rows.append(row)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    print_table(rows, columns)
    for r in results:
        if "cprofile" in r:
            print(f"\ncProfile, config {r['config']} (cumulative):")
            print(r.pop("cprofile"))
    load = os.getloadavg()
    json_line(
        {
            "bench": "turn_profile",
            "machine": machine(),
            "load_avg": [round(x, 2) for x in load],
            "unique": args.unique,
            "intent_method": args.intent_method,
            "results": results,
        }
    )


if __name__ == "__main__":
    main()

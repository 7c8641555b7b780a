"""Shared by the intent benchmarks: k-shot sampling and one measured train/score run per method."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np


def sample(rows: list[tuple[str, str]], k: int | None, seed: int) -> list[tuple[str, str]]:
    """k rows per intent, drawn with a fixed seed (all rows when k is None)."""
    if k is None:
        return list(rows)
    rng = np.random.default_rng(seed)
    by_intent: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_intent.setdefault(row[1], []).append(row)
    picked = []
    for intent in sorted(by_intent):
        group = by_intent[intent]
        picked += [group[i] for i in sorted(rng.choice(len(group), size=k, replace=False))]
    return picked


def rate(n: int, seconds: float) -> float:
    """Items per second, rounded."""
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def stderr_progress(label: str):  # noqa: ANN201 - a progress callback
    """A progress callback that prints each stage once and every tenth of the way, on stderr."""
    shown: set[tuple[str, int]] = set()

    def report(stage: str, fraction: float) -> None:
        key = (stage, int(fraction * 10))
        if key not in shown:
            shown.add(key)
            print(f"    {label}: {stage} {fraction:.0%}", file=sys.stderr, flush=True)

    return report


def train_and_score(  # noqa: PLR0913
    method: str,
    embedder: Any,
    train: list[tuple[str, str]],
    test: list[tuple[str, str]],
    label: str,
    **options: Any,
) -> tuple[Any, dict[str, Any]]:
    """Fit IntentClassifier(method) on train, score it on test (oos rows labelled 'oos').

    Returns the model and its figures: evaluate() metrics, closed-set in-scope accuracy (argmax over
    the intents, no out-of-scope option), threshold and training seconds (embedding included).
    """
    from bot.intents import OUT_OF_SCOPE
    from bot.intents.classifier import IntentClassifier
    from bot.intents.metrics import evaluate

    texts, labels = [t for t, _ in train], [lab for _, lab in train]
    started = time.perf_counter()
    model = IntentClassifier(embedder, method=method, **options).fit(
        texts, labels, progress=stderr_progress(f"{label} {method}")
    )
    train_s = time.perf_counter() - started
    test_texts, gold = [t for t, _ in test], [lab for _, lab in test]
    predictions = model.predict(test_texts)
    figures: dict[str, Any] = evaluate(gold, [p.intent for p in predictions])
    in_rows = [i for i, g in enumerate(gold) if g != OUT_OF_SCOPE]
    figures["closed_set_in_scope_acc"] = round(float(np.mean([predictions[i].top == gold[i] for i in in_rows])), 4)
    figures.update(
        method=model.method,
        train_rows=sum(lab != OUT_OF_SCOPE for lab in labels),
        oos_train_rows=sum(lab == OUT_OF_SCOPE for lab in labels),
        threshold=round(model.threshold, 4),
        calibration=model.calibration,
        train_s=round(train_s, 1),
    )
    return model, figures


def prediction_rates(models: dict[str, Any], texts: list[str], rounds: int = 3) -> dict[str, float]:
    """Batched predict() per model on the same texts, embedding included; best of `rounds`, alternating."""
    best = {name: float("inf") for name in models}
    for _ in range(rounds):  # alternate, keep the best: the machine may be shared
        for name, model in models.items():
            started = time.perf_counter()
            model.predict(texts)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: rate(len(texts), seconds) for name, seconds in best.items()}

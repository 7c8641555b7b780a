"""Per-intent precision, recall, F1 and support, and confusion counts, from gold and predicted labels.

Out-of-scope ('oos') is a label like any other here, so a model that answers out-of-scope
questions, or rejects in-scope ones, shows up in the table and in the confusions.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.intents import OUT_OF_SCOPE


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def labels_of(gold: list[str], predicted: list[str]) -> list[str]:
    """Every label seen in gold or predicted, sorted, with out-of-scope last."""
    seen = set(gold) | set(predicted)
    return sorted(seen - {OUT_OF_SCOPE}) + ([OUT_OF_SCOPE] if OUT_OF_SCOPE in seen else [])


def per_intent(gold: list[str], predicted: list[str]) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support (gold count) per label; 0.0 where a ratio is undefined."""
    pairs = Counter(zip(gold, predicted, strict=True))
    gold_counts, predicted_counts = Counter(gold), Counter(predicted)
    table: dict[str, dict[str, float | int]] = {}
    for label in labels_of(gold, predicted):
        hits = pairs[(label, label)]
        precision = _ratio(hits, predicted_counts[label])
        recall = _ratio(hits, gold_counts[label])
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
        table[label] = {"precision": precision, "recall": recall, "f1": f1, "support": gold_counts[label]}
    return table


def confusion(gold: list[str], predicted: list[str]) -> dict[str, dict[str, int]]:
    """Counts of gold label -> predicted label, the diagonal included; only non-zero cells."""
    table: dict[str, dict[str, int]] = {}
    for (g, p), count in sorted(Counter(zip(gold, predicted, strict=True)).items()):
        table.setdefault(g, {})[p] = count
    return table


def top_confusions(matrix: dict[str, dict[str, int]], limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent mistakes (gold != predicted), most frequent first."""
    mistakes = [
        {"gold": g, "predicted": p, "count": n} for g, row in matrix.items() for p, n in row.items() if g != p
    ]
    return sorted(mistakes, key=lambda m: (-m["count"], m["gold"], m["predicted"]))[:limit]


def build_report(gold: list[str], predicted: list[str]) -> dict[str, Any]:
    """The per-intent table and the confusion counts in one JSON-ready dict.

    Args:
        gold: true labels ('oos' for out-of-scope).
        predicted: predicted labels ('oos' when the classifier abstains).

    Returns:
        {"labels": [...], "per_intent": {label: {precision, recall, f1, support}},
         "confusion": {gold: {predicted: count}}, "top_confusions": [{gold, predicted, count}]}
    """
    if not gold or len(gold) != len(predicted):
        raise ValueError("gold and predicted must be non-empty and of equal length")
    matrix = confusion(gold, predicted)
    return {
        "labels": labels_of(gold, predicted),
        "per_intent": per_intent(gold, predicted),
        "confusion": matrix,
        "top_confusions": top_confusions(matrix),
    }

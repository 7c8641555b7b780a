"""Evaluation figures for intent predictions, out-of-scope included."""

from __future__ import annotations

from sklearn.metrics import f1_score

from bot.intents import OUT_OF_SCOPE


def evaluate(gold: list[str], predicted: list[str]) -> dict[str, float | int]:
    """Accuracy, macro F1 and n; out-of-scope recall and in-scope accuracy when oos rows exist.

    Args:
        gold: true labels ('oos' for out-of-scope).
        predicted: predicted labels ('oos' when the classifier abstains).
    """
    n = len(gold)
    if n == 0 or n != len(predicted):
        raise ValueError("gold and predicted must be non-empty and of equal length")
    correct = [g == p for g, p in zip(gold, predicted, strict=True)]
    result: dict[str, float | int] = {
        "n": n,
        "accuracy": round(sum(correct) / n, 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro", zero_division=0)), 4),
    }
    oos = [i for i, g in enumerate(gold) if g == OUT_OF_SCOPE]
    if oos:
        in_scope = [i for i, g in enumerate(gold) if g != OUT_OF_SCOPE]
        result["oos_recall"] = round(sum(predicted[i] == OUT_OF_SCOPE for i in oos) / len(oos), 4)
        result["in_scope_accuracy"] = round(sum(correct[i] for i in in_scope) / max(len(in_scope), 1), 4)
        result["n_oos"] = len(oos)
    return result

"""Per-intent precision/recall/F1 and confusion counts, checked against hand-counted fixtures."""

from __future__ import annotations

import pytest

from bot.intents.report import build_report, confusion, labels_of, per_intent, top_confusions

GOLD = ["a", "a", "a", "b", "b", "oos", "oos"]
PRED = ["a", "a", "b", "b", "oos", "oos", "a"]


def test_per_intent_matches_hand_counts() -> None:
    table = per_intent(GOLD, PRED)
    # a: predicted 3 times (2 right), gold 3 times
    assert table["a"] == {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "support": 3}
    # b: predicted twice (1 right), gold twice
    assert table["b"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # out-of-scope is its own label: predicted twice (1 right), gold twice
    assert table["oos"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}


def test_uneven_precision_and_recall() -> None:
    gold = ["x", "x", "x", "x", "y"]
    pred = ["x", "y", "y", "y", "y"]
    table = per_intent(gold, pred)
    assert table["x"] == {"precision": 1.0, "recall": 0.25, "f1": 0.4, "support": 4}
    assert table["y"] == {"precision": 0.25, "recall": 1.0, "f1": 0.4, "support": 1}


def test_a_label_only_predicted_has_zero_support_and_zero_scores() -> None:
    table = per_intent(["a", "a"], ["a", "c"])
    assert table["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert table["a"]["precision"] == 1.0 and table["a"]["recall"] == 0.5


def test_confusion_counts_and_top_confusions() -> None:
    matrix = confusion(GOLD, PRED)
    assert matrix == {"a": {"a": 2, "b": 1}, "b": {"b": 1, "oos": 1}, "oos": {"a": 1, "oos": 1}}
    assert top_confusions(matrix) == [
        {"gold": "a", "predicted": "b", "count": 1},
        {"gold": "b", "predicted": "oos", "count": 1},
        {"gold": "oos", "predicted": "a", "count": 1},
    ]
    heavy = confusion(["a", "a", "a", "b"], ["b", "b", "c", "a"])
    assert top_confusions(heavy, limit=2) == [
        {"gold": "a", "predicted": "b", "count": 2},
        {"gold": "a", "predicted": "c", "count": 1},
    ]


def test_labels_put_out_of_scope_last_and_report_combines_everything() -> None:
    assert labels_of(["oos", "b"], ["a", "oos"]) == ["a", "b", "oos"]
    report = build_report(GOLD, PRED)
    assert report["labels"] == ["a", "b", "oos"]
    assert report["per_intent"]["a"]["support"] == 3
    assert sum(n for row in report["confusion"].values() for n in row.values()) == len(GOLD)
    with pytest.raises(ValueError):
        build_report(["a"], [])

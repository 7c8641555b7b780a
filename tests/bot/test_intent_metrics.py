"""Intent evaluation figures, checked against a hand-counted example."""

from __future__ import annotations

import pytest

from bot.intents.metrics import evaluate

# gold:      a  a  b  b  oos oos
# predicted: a  b  b  b  oos a
# a:   tp 1, fp 1 (the oos row), fn 1       -> P 1/2, R 1/2, F1 1/2
# b:   tp 2, fp 1, fn 0                     -> P 2/3, R 1,   F1 4/5
# oos: tp 1, fp 0, fn 1                     -> P 1,   R 1/2, F1 2/3
# macro F1 = (1/2 + 4/5 + 2/3) / 3 = 0.65556; accuracy 4/6; oos recall 1/2; in-scope accuracy 3/4
GOLD = ["a", "a", "b", "b", "oos", "oos"]
PREDICTED = ["a", "b", "b", "b", "oos", "a"]


def test_figures_match_the_hand_count() -> None:
    assert evaluate(GOLD, PREDICTED) == {
        "n": 6,
        "accuracy": 0.6667,
        "macro_f1": 0.6556,
        "oos_recall": 0.5,
        "in_scope_accuracy": 0.75,
        "n_oos": 2,
    }


def test_without_oos_rows_there_are_no_oos_figures() -> None:
    result = evaluate(["a", "b", "b"], ["a", "b", "a"])

    # a: P 1/2, R 1 -> 2/3; b: P 1, R 1/2 -> 2/3
    assert result == {"n": 3, "accuracy": 0.6667, "macro_f1": 0.6667}


def test_a_perfect_run_scores_one() -> None:
    assert evaluate(GOLD, GOLD) == {
        "n": 6,
        "accuracy": 1.0,
        "macro_f1": 1.0,
        "oos_recall": 1.0,
        "in_scope_accuracy": 1.0,
        "n_oos": 2,
    }


@pytest.mark.parametrize(("gold", "predicted"), [([], []), (["a"], ["a", "b"])])
def test_empty_or_misaligned_input_is_refused(gold: list[str], predicted: list[str]) -> None:
    with pytest.raises(ValueError, match="equal length"):
        evaluate(gold, predicted)

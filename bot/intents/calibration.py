"""Choosing the out-of-scope confidence threshold from held-out predictions (never a fixed number)."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.intents import OUT_OF_SCOPE

log = logging.getLogger(__name__)

# Without out-of-scope examples there is nothing to balance against: reject at most this share of in-scope rows.
MAX_IN_SCOPE_REJECTION = 0.05

HeadFactory = Callable[[np.ndarray, np.ndarray], Any]  # (x, y) -> fitted head with classes_ and predict_proba


def pick_threshold(conf: np.ndarray, pred: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """The confidence threshold that best balances in-scope accuracy and out-of-scope recall.

    Args:
        conf: held-out top probability per row.
        pred: held-out top intent per row.
        gold: true labels ('oos' for out-of-scope rows).

    Returns:
        (threshold, objective): the objective is the mean of in-scope accuracy (correct and accepted)
        and oos recall, or in-scope accuracy alone when there are no oos rows.
    """
    in_scope = gold != OUT_OF_SCOPE
    has_oos = bool((~in_scope).any())
    right = pred[in_scope] == gold[in_scope]
    best_t, best_score = 0.0, -1.0
    for t in np.unique(np.round(conf, 3)):
        accepted = conf >= t
        in_acc = float(np.mean(right & accepted[in_scope]))
        if has_oos:
            score = (in_acc + float(np.mean(~accepted[~in_scope]))) / 2
        else:
            score = in_acc if np.mean(~accepted[in_scope]) <= MAX_IN_SCOPE_REJECTION else -1.0
        if score > best_score:
            best_t, best_score = float(t), score
    return best_t, best_score


def cross_validated(x: np.ndarray, y: np.ndarray, fit_head: HeadFactory, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Top probability and intent of every row from a head that never saw it (oos rows are never trained on)."""
    in_scope = y != OUT_OF_SCOPE
    conf = np.zeros(len(y))
    pred = np.empty(len(y), dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():  # a handful of oos rows makes sklearn warn that they are fewer than the folds
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(x, y))
    for train_idx, test_idx in splits:
        train_idx = train_idx[in_scope[train_idx]]
        head = fit_head(x[train_idx], y[train_idx])
        proba = head.predict_proba(x[test_idx])
        conf[test_idx] = proba.max(axis=1)
        pred[test_idx] = head.classes_[proba.argmax(axis=1)]
    return conf, pred


def cv_folds(y: np.ndarray, most: int = 5) -> int:
    """Folds for cross-validation: at most `most`, at most the size of the smallest intent (0: too few)."""
    counts = Counter(y[y != OUT_OF_SCOPE].tolist())
    folds = min(most, min(counts.values(), default=0))
    return folds if folds >= 2 else 0



def holdout_split(y: np.ndarray, share: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """In-scope rows to train on and in-scope rows to hold out for calibration.

    Every intent with at least two examples gives round(share x its count) of them (at least one) to the
    held-out side; an intent with a single example keeps it for training. Out-of-scope rows are in neither:
    they are never trained on and always scored.
    """
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for label in sorted(set(y[y != OUT_OF_SCOPE].tolist())):
        rows = rng.permutation(np.flatnonzero(y == label))
        n_held = max(1, round(share * len(rows))) if len(rows) >= 2 else 0
        held += rows[:n_held].tolist()
        train += rows[n_held:].tolist()
    return np.array(sorted(train), dtype=int), np.array(sorted(held), dtype=int)

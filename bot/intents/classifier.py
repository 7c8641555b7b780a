"""A logistic-regression head on frozen sentence embeddings, with out-of-scope detection.

Two signals decide out-of-scope, each with its own threshold chosen on held-out
(cross-validated) predictions, never fixed:

- ``confidence``: the head's probability for its top intent (what reply rules compare with
  ``min_confidence``); ``threshold`` applies to it.
- ``similarity``: the cosine between the text and the centroid of the top intent's training
  examples; ``similarity_threshold`` applies to it. On CLINC150 this separates out-of-scope
  texts better than the probability alone (see docs/benchmarks.md, "Intent classification").

A text is out-of-scope when either signal is below its threshold.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from bot.errors import ConfigError
from bot.intents import OUT_OF_SCOPE
from knowledge.embeddings import Embedder

log = logging.getLogger(__name__)

# Quantiles of the held-out scores tried as thresholds (0 = accept everything).
_GRID = np.linspace(0.0, 0.6, 61)
# Without out-of-scope examples, reject at most this share of the in-scope ones.
_MAX_REJECT_WITHOUT_OOS = 0.05


@dataclass
class Prediction:
    """The predicted intent ('oos' when unsure), the head's probability for the top intent,
    the top intent itself, and the cosine similarity to that intent's examples' centroid."""

    intent: str
    confidence: float
    top: str
    similarity: float = 1.0


def _centroids(x: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Unit-length mean vector of each class's rows, in the order of classes."""
    index = np.searchsorted(classes, y)
    sums = np.zeros((len(classes), x.shape[1]), dtype=np.float64)
    np.add.at(sums, index, x)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class IntentClassifier:
    """Intent head over an embedding model; save/load as JSON + NPZ (no pickle)."""

    def __init__(self, embedder: Embedder, c: float = 10.0) -> None:
        self.embedder = embedder
        self.c = c
        self.classes: list[str] = []
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.centroids: np.ndarray | None = None
        self.threshold: float = 0.0
        self.similarity_threshold: float = -1.0
        self.calibration: dict[str, float] = {}

    def fit(self, texts: list[str], labels: list[str]) -> IntentClassifier:
        """Train on labelled texts; 'oos' rows only tune the out-of-scope thresholds."""
        vectors = _unit(self.embedder.encode(texts, batch_size=64))
        labels_arr = np.array(labels)
        in_scope = labels_arr != OUT_OF_SCOPE
        if len(set(labels_arr[in_scope])) < 2:
            raise ConfigError("need at least two intents with examples to train")
        head = self._fit_head(vectors[in_scope], labels_arr[in_scope])
        self.classes = [str(c) for c in head.classes_]
        self.coef, self.intercept = (
            head.coef_.astype(np.float32),
            head.intercept_.astype(np.float32),
        )
        self.centroids = _centroids(vectors[in_scope], labels_arr[in_scope], head.classes_)
        self.threshold, self.similarity_threshold, self.calibration = self._choose_thresholds(
            vectors, labels_arr
        )
        return self

    def _fit_head(self, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=self.c, max_iter=2000, class_weight="balanced").fit(x, y)

    def _choose_thresholds(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, float, dict[str, float]]:
        """Pick the confidence and similarity thresholds on cross-validated predictions.

        With out-of-scope rows the objective is the mean of in-scope accuracy (correct and
        accepted) and out-of-scope recall, so it does not depend on how many oos rows there
        are. Without them, in-scope accuracy with at most 5% of in-scope rows rejected.
        """
        in_scope = y != OUT_OF_SCOPE
        smallest = min(Counter(y[in_scope]).values())
        folds = min(5, smallest)
        if folds < 2:
            log.warning(
                "too few examples per intent to calibrate; out-of-scope thresholds left off"
            )
            return 0.0, -1.0, {"folds": 0}
        conf = np.zeros(len(y))
        sim = np.zeros(len(y))
        pred = np.empty(len(y), dtype=object)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        # oos rows are spread over the folds too, but never trained on.
        for train_idx, test_idx in splitter.split(x, y):
            train_idx = train_idx[in_scope[train_idx]]
            head = self._fit_head(x[train_idx], y[train_idx])
            proba = head.predict_proba(x[test_idx])
            best = proba.argmax(axis=1)
            conf[test_idx] = proba.max(axis=1)
            pred[test_idx] = head.classes_[best]
            centroids = _centroids(x[train_idx], y[train_idx], head.classes_)
            sim[test_idx] = np.einsum("ij,ij->i", x[test_idx], centroids[best])
        has_oos = bool((~in_scope).any())
        correct = pred[in_scope] == y[in_scope]
        conf_grid = np.unique(np.round(np.quantile(conf, _GRID), 4))
        sim_grid = np.unique(np.round(np.quantile(sim, _GRID), 4))
        conf_grid[0], sim_grid[0] = 0.0, -1.0  # the first candidate accepts everything
        conf_ok = conf[None, :] >= conf_grid[:, None]  # (thresholds, rows)
        sim_ok = sim[None, :] >= sim_grid[:, None]
        best_t, best_s, best_score = 0.0, -1.0, -1.0
        for i, t in enumerate(conf_grid):
            accepted = conf_ok[i][None, :] & sim_ok  # (similarity thresholds, rows)
            in_acc = (accepted[:, in_scope] & correct).mean(axis=1)
            if has_oos:
                scores = (in_acc + (~accepted[:, ~in_scope]).mean(axis=1)) / 2
            else:
                rejected = (~accepted[:, in_scope]).mean(axis=1)
                scores = np.where(rejected <= _MAX_REJECT_WITHOUT_OOS, in_acc, -1.0)
            j = int(scores.argmax())  # first best: the loosest similarity threshold
            if scores[j] > best_score + 1e-9:
                best_t, best_s, best_score = float(t), float(sim_grid[j]), float(scores[j])
        return (
            best_t,
            best_s,
            {"folds": folds, "objective": round(best_score, 4), "with_oos": has_oos},
        )

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Predict intents; below either threshold the intent is 'oos'."""
        if self.coef is None or self.intercept is None:
            raise ConfigError("intent classifier is not trained")
        vectors = _unit(self.embedder.encode(texts))
        logits = vectors @ self.coef.T + self.intercept
        if len(self.classes) == 2:  # sklearn stores one row for binary problems
            logits = np.hstack([-logits, logits]) / 2
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        best = proba.argmax(axis=1)
        conf = proba[np.arange(len(best)), best]
        if self.centroids is not None:
            sim = np.einsum("ij,ij->i", vectors, self.centroids[best])
        else:  # a head saved before centroids existed: the confidence alone decides
            sim = np.ones(len(best), dtype=np.float32)
        out = []
        for b, c, s in zip(best.tolist(), conf.tolist(), sim.tolist(), strict=True):
            top = self.classes[b]
            confident = c >= self.threshold and s >= self.similarity_threshold
            out.append(Prediction(top if confident else OUT_OF_SCOPE, float(c), top, float(s)))
        return out

    def save(self, folder: Path) -> None:
        """Write the head to folder (meta.json + head.npz)."""
        if self.coef is None or self.intercept is None:
            raise ConfigError("intent classifier is not trained")
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"coef": self.coef, "intercept": self.intercept}
        if self.centroids is not None:
            arrays["centroids"] = self.centroids
        np.savez(folder / "head.npz", **arrays)
        meta = {
            "classes": self.classes,
            "threshold": self.threshold,
            "similarity_threshold": self.similarity_threshold,
            "calibration": self.calibration,
            "embedding_model": self.embedder.name,
            "c": self.c,
        }
        (folder / "meta.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path, embedder: Embedder) -> IntentClassifier:
        """Read a head saved by save(); refuses one trained on another embedding model."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["embedding_model"] != embedder.name:
            raise ConfigError(
                f"intent model was trained with {meta['embedding_model']!r}, "
                f"not {embedder.name!r}; retrain it"
            )
        arrays = np.load(folder / "head.npz", allow_pickle=False)
        model = cls(embedder, meta.get("c", 10.0))
        model.classes, model.threshold = meta["classes"], meta["threshold"]
        model.similarity_threshold = meta.get("similarity_threshold", -1.0)
        model.calibration = meta.get("calibration", {})
        model.coef, model.intercept = arrays["coef"], arrays["intercept"]
        model.centroids = arrays["centroids"] if "centroids" in arrays.files else None
        return model

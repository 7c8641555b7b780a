"""A calibrated logistic-regression head on frozen sentence embeddings.

The out-of-scope threshold is chosen on held-out (cross-validated) predictions, never fixed.
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


@dataclass
class Prediction:
    """The predicted intent ('oos' when unsure) and the head's probability for the top intent."""

    intent: str
    confidence: float
    top: str


class IntentClassifier:
    """Intent head over an embedding model; save/load as JSON + NPZ (no pickle)."""

    def __init__(self, embedder: Embedder, c: float = 10.0) -> None:
        self.embedder = embedder
        self.c = c
        self.classes: list[str] = []
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.threshold: float = 0.0
        self.calibration: dict[str, float] = {}

    def fit(self, texts: list[str], labels: list[str]) -> IntentClassifier:
        """Train on labelled texts; 'oos' rows only tune the out-of-scope threshold."""
        vectors = self.embedder.encode(texts, batch_size=64)
        labels_arr = np.array(labels)
        in_scope = labels_arr != OUT_OF_SCOPE
        if len(set(labels_arr[in_scope])) < 2:
            raise ConfigError("need at least two intents with examples to train")
        head = self._fit_head(vectors[in_scope], labels_arr[in_scope])
        self.classes = [str(c) for c in head.classes_]
        self.coef, self.intercept = head.coef_.astype(np.float32), head.intercept_.astype(np.float32)
        self.threshold, self.calibration = self._choose_threshold(vectors, labels_arr)
        return self

    def _fit_head(self, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=self.c, max_iter=2000, class_weight="balanced").fit(x, y)

    def _choose_threshold(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, float]]:
        """Pick the confidence threshold that best balances in-scope accuracy and oos recall."""
        in_scope = y != OUT_OF_SCOPE
        smallest = min(Counter(y[in_scope]).values())
        folds = min(5, smallest)
        if folds < 2:
            log.warning("too few examples per intent to calibrate; out-of-scope threshold left at 0")
            return 0.0, {"folds": 0}
        conf = np.zeros(len(y))
        pred = np.empty(len(y), dtype=object)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        # oos rows are spread over the folds too, but never trained on.
        for train_idx, test_idx in splitter.split(x, y):
            train_idx = train_idx[in_scope[train_idx]]
            head = self._fit_head(x[train_idx], y[train_idx])
            proba = head.predict_proba(x[test_idx])
            conf[test_idx] = proba.max(axis=1)
            pred[test_idx] = head.classes_[proba.argmax(axis=1)]
        candidates = np.unique(np.round(conf, 3))
        has_oos = (~in_scope).any()
        best_t, best_score = 0.0, -1.0
        for t in candidates:
            accepted = conf >= t
            in_acc = float(np.mean((pred[in_scope] == y[in_scope]) & accepted[in_scope]))
            if has_oos:
                score = (in_acc + float(np.mean(~accepted[~in_scope]))) / 2
            else:
                # Without oos examples: reject at most the least-confident 5% of in-scope rows.
                score = in_acc if np.mean(~accepted[in_scope]) <= 0.05 else -1.0
            if score > best_score:
                best_t, best_score = float(t), score
        return best_t, {"folds": folds, "objective": round(best_score, 4), "with_oos": bool(has_oos)}

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Predict intents; below the threshold the intent is 'oos'."""
        if self.coef is None or self.intercept is None:
            raise ConfigError("intent classifier is not trained")
        logits = self.embedder.encode(texts) @ self.coef.T + self.intercept
        if len(self.classes) == 2:  # sklearn stores one row for binary problems
            logits = np.hstack([-logits, logits]) / 2
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        out = []
        for row in proba:
            best = int(row.argmax())
            top = self.classes[best]
            confident = row[best] >= self.threshold
            out.append(Prediction(top if confident else OUT_OF_SCOPE, float(row[best]), top))
        return out

    def save(self, folder: Path) -> None:
        """Write the head to folder (meta.json + head.npz)."""
        if self.coef is None or self.intercept is None:
            raise ConfigError("intent classifier is not trained")
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "head.npz", coef=self.coef, intercept=self.intercept)
        meta = {
            "classes": self.classes,
            "threshold": self.threshold,
            "calibration": self.calibration,
            "embedding_model": self.embedder.name,
            "c": self.c,
        }
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, embedder: Embedder) -> IntentClassifier:
        """Read a head saved by save(); refuses one trained on another embedding model."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["embedding_model"] != embedder.name:
            raise ConfigError(
                f"intent model was trained with {meta['embedding_model']!r}, not {embedder.name!r}; retrain it"
            )
        arrays = np.load(folder / "head.npz")
        model = cls(embedder, meta.get("c", 10.0))
        model.classes, model.threshold = meta["classes"], meta["threshold"]
        model.calibration = meta.get("calibration", {})
        model.coef, model.intercept = arrays["coef"], arrays["intercept"]
        return model

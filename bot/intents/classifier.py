"""Intent classification: a calibrated logistic-regression head on sentence embeddings.

Two methods (see docs/benchmarks.md, "Intent classification", for the measurements behind them):
- "finetune": a SetFit-style contrastive fine-tune of a copy of the sentence-transformers body
  (bot.intents.finetune), then the head on the tuned body's vectors. The body is saved in the model
  folder and predict() uses it after load(). The default whenever the embedding model is a local
  sentence-transformers folder.
- "frozen": the head on the shared embedder's vectors. Cheaper; the only choice for other embedders
  (USE-multilingual, test fakes).
The out-of-scope threshold is always chosen on held-out predictions, never fixed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.errors import ConfigError
from bot.intents import OUT_OF_SCOPE
from bot.intents.calibration import cross_validated, cv_folds, pick_threshold
from bot.intents.finetune import FinetuneConfig, FinetunedEncoder, finetune
from knowledge.embeddings import Embedder

log = logging.getLogger(__name__)

METHODS = ("auto", "finetune", "frozen")
SENTENCE_TRANSFORMERS = "sentence-transformers"
Progress = Callable[[str, float], None]


@dataclass
class Prediction:
    """The predicted intent ('oos' when unsure) and the head's probability for the top intent."""

    intent: str
    confidence: float
    top: str


def can_finetune(embedder: Any) -> bool:
    """Whether the embedder is a local sentence-transformers folder that a fine-tune can start from."""
    path = getattr(embedder, "path", None)
    return getattr(embedder, "backend", None) == SENTENCE_TRANSFORMERS and path is not None and Path(path).is_dir()


def default_finetune_config(device: str) -> FinetuneConfig:
    """The step cap: bounded on CPU (minutes on 2 cores), longer when a GPU does the work."""
    if device == "cuda":
        return FinetuneConfig(steps=3000, epochs=40.0, batch_size=64)
    return FinetuneConfig()


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _no_progress(_: str, __: float) -> None:
    return None


class IntentClassifier:
    """Intent head (and, when fine-tuned, its own encoder); save/load as JSON + NPZ + safetensors (no pickle)."""

    def __init__(
        self,
        embedder: Embedder,
        c: float = 10.0,
        method: str = "auto",
        finetune_config: FinetuneConfig | None = None,
        device: str = "auto",
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown intent method {method!r}; choose one of {', '.join(METHODS)}")
        self.embedder = embedder
        self.c = c
        self.method = method
        self.device = device
        self.finetune_config = finetune_config
        self.encoder: FinetunedEncoder | None = None
        self.classes: list[str] = []
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.threshold: float = 0.0
        self.calibration: dict[str, Any] = {}

    # -- training -------------------------------------------------------------------------------

    def fit(self, texts: list[str], labels: list[str], progress: Progress | None = None) -> IntentClassifier:
        """Train on labelled texts; 'oos' rows only tune the out-of-scope threshold.

        Args:
            texts: example utterances.
            labels: their intents ('oos' for out-of-scope examples).
            progress: called with (stage, fraction of the whole fit done), fraction in [0, 1].
        """
        report = progress or _no_progress
        y = np.array(labels, dtype=object)
        in_scope = y != OUT_OF_SCOPE
        if len(texts) != len(labels):
            raise ConfigError("texts and labels must be of equal length")
        if len(set(y[in_scope])) < 2:
            raise ConfigError("need at least two intents with examples to train")
        method = self._resolve_method()
        if method == "finetune":
            self._fit_finetuned(list(texts), y, report)
        else:
            self._fit_frozen(list(texts), y, report)
        self.method = method
        report("done", 1.0)
        return self

    def _resolve_method(self) -> str:
        if self.method == "frozen":
            return "frozen"
        if can_finetune(self.embedder):
            return "finetune"
        if self.method == "finetune":
            raise ConfigError(f"embedding model {self.embedder.name!r} is not a sentence-transformers folder; "
                              "use method='frozen'")
        return "frozen"

    def _fit_frozen(self, texts: list[str], y: np.ndarray, report: Progress) -> None:
        report("embedding", 0.0)
        x = self.embedder.encode(texts, batch_size=64)
        report("training head", 0.5)
        self._set_head(self._fit_head(x[y != OUT_OF_SCOPE], y[y != OUT_OF_SCOPE]))
        report("calibrating", 0.6)
        self._calibrate_cv(x, y)

    def _fit_finetuned(self, texts: list[str], y: np.ndarray, report: Progress) -> None:
        device = _pick_device(self.device)
        config = self.finetune_config or default_finetune_config(device)
        path = Path(self.embedder.path)  # type: ignore[attr-defined]
        in_scope = y != OUT_OF_SCOPE
        rows = np.flatnonzero(in_scope)
        report("fine-tuning", 0.0)
        body = finetune(path, [texts[i] for i in rows], y[rows].tolist(), config, device,
                        lambda _, f: report("fine-tuning", 0.85 * f))
        self.encoder = FinetunedEncoder(body, f"{self.embedder.name}+intents")
        report("embedding", 0.85)
        x = self.encoder.encode(texts)
        report("training head", 0.92)
        self._set_head(self._fit_head(x[in_scope], y[in_scope]))
        report("calibrating", 0.95)
        self._calibrate_cv(x, y)
        self.calibration["finetune"] = asdict(config) | {"device": device}

    def _fit_head(self, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=self.c, max_iter=2000, class_weight="balanced").fit(x, y)

    def _set_head(self, head: LogisticRegression) -> None:
        self.classes = [str(c) for c in head.classes_]
        self.coef, self.intercept = head.coef_.astype(np.float32), head.intercept_.astype(np.float32)

    def _calibrate_cv(self, x: np.ndarray, y: np.ndarray) -> None:
        """Threshold from cross-validated head predictions (oos rows are scored, never trained on)."""
        folds = cv_folds(y)
        if not folds:
            log.warning("too few examples per intent to calibrate; out-of-scope threshold left at 0")
            self.threshold, self.calibration = 0.0, {"folds": 0}
            return
        conf, pred = cross_validated(x, y, self._fit_head, folds)
        self.threshold, objective = pick_threshold(conf, pred, y)
        self.calibration = {"folds": folds, "objective": round(objective, 4),
                            "with_oos": bool((y == OUT_OF_SCOPE).any())}

    # -- prediction -----------------------------------------------------------------------------

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Predict intents; below the threshold the intent is 'oos'."""
        if self.coef is None or self.intercept is None:
            raise ConfigError("intent classifier is not trained")
        vectors = self.encoder.encode(texts) if self.encoder is not None else self.embedder.encode(texts)
        logits = vectors @ self.coef.T + self.intercept
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

    # -- persistence ----------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the model to folder: meta.json + head.npz, and encoder/ when fine-tuned."""
        if self.coef is None or self.intercept is None:
            raise ConfigError("intent classifier is not trained")
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "head.npz", coef=self.coef, intercept=self.intercept)
        if self.encoder is not None:
            self.encoder.save(folder)
        meta = {
            "classes": self.classes,
            "threshold": self.threshold,
            "calibration": self.calibration,
            "embedding_model": self.embedder.name,
            "c": self.c,
            "method": self.method,
            "encoder": FinetunedEncoder.FOLDER if self.encoder is not None else None,
        }
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, embedder: Embedder, device: str = "auto") -> IntentClassifier:
        """Read a model saved by save(); refuses one trained on another embedding model."""
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["embedding_model"] != embedder.name:
            raise ConfigError(
                f"intent model was trained with {meta['embedding_model']!r}, not {embedder.name!r}; retrain it"
            )
        arrays = np.load(folder / "head.npz")
        model = cls(embedder, meta.get("c", 10.0), method=meta.get("method", "frozen"), device=device)
        model.classes, model.threshold = meta["classes"], meta["threshold"]
        model.calibration = meta.get("calibration", {})
        model.coef, model.intercept = arrays["coef"], arrays["intercept"]
        if meta.get("encoder"):
            try:
                model.encoder = FinetunedEncoder.load(folder, f"{embedder.name}+intents", _pick_device(device))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{folder}: cannot load the fine-tuned intent encoder ({exc}); retrain it") from exc
        return model

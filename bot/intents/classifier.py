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
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from bot.errors import ConfigError
from bot.intents import OUT_OF_SCOPE
from bot.intents import companion as intent_companion
from bot.intents.calibration import cross_validated, cv_folds, holdout_split, pick_threshold
from bot.intents.finetune import FinetuneConfig, FinetunedEncoder, finetune
from knowledge.embeddings import SMALL_BATCH, Embedder, single_thread

log = logging.getLogger(__name__)

METHODS = ("auto", "finetune", "frozen")
SENTENCE_TRANSFORMERS = "sentence-transformers"
PREDICTION_CACHE_SIZE = 2048  # single-message feature vectors kept (customers repeat their questions)
SERVE_CALIBRATION_ABOVE = 2000  # in-scope examples above which one fine-tune (on 80 %) is served, not two
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


def _softmax_top(logits: np.ndarray, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The head's top probability and intent per row, from its logits."""
    if len(classes) == 2:  # sklearn stores one row for binary problems
        logits = np.hstack([-logits, logits]) / 2
    logits = logits - logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    best = proba.argmax(axis=1)
    return proba[np.arange(len(proba)), best], np.array(classes, dtype=object)[best]


@dataclass
class HeldOut:
    """Gold and predicted intents (after the threshold) of rows the model's calibration run never trained on."""

    gold: list[str]
    predicted: list[str]


class IntentClassifier:
    """Intent head (and, when fine-tuned, its own encoder); save/load as JSON + NPZ + safetensors (no pickle)."""

    def __init__(
        self,
        embedder: Embedder,
        c: float = 10.0,
        method: str = "auto",
        finetune_config: FinetuneConfig | None = None,
        device: str = "auto",
        companion: str = "auto",
    ) -> None:
        """Args:
            companion: 'auto' (USE-multilingual beside an English-only embedder when examples are in a
                non-Latin script), 'none', or a model spec; its frozen vectors are appended to the main
                ones (bot.intents.companion). Chosen by fit(); load() restores the saved choice.
        """
        if method not in METHODS:
            raise ConfigError(f"unknown intent method {method!r}; choose one of {', '.join(METHODS)}")
        self.embedder = embedder
        self.companion_mode = companion
        self.companion: Embedder | None = None
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
        self.held_out: HeldOut | None = None  # set by a fine-tune's calibration run (not saved)
        self._x: np.ndarray  # embeddings of the training texts while fit() runs
        self._companion_x: np.ndarray | None = None  # the companion's, while fit() runs
        # 0: no cache. Follows the embedder's query cache (KnowledgeSettings.query_cache_size on the server).
        self.prediction_cache_size: int = getattr(embedder, "cache_size", PREDICTION_CACHE_SIZE)
        self._features: OrderedDict[str, np.ndarray] = OrderedDict()  # predict() of one text: its vector
        self._features_lock = threading.Lock()

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
        with self._features_lock:  # the encoders change: vectors of an earlier model must not be reused
            self._features.clear()
        self.companion = intent_companion.choose(self.embedder, self.companion_mode, list(texts))
        self._companion_x = self.companion.encode(list(texts)) if self.companion is not None else None
        if method == "finetune":
            self._fit_finetuned(list(texts), y, report)
        else:
            self._fit_frozen(list(texts), y, report)
        self.method = method
        self._companion_x = None
        with self._features_lock:
            self._features.clear()
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
        x = self._with_companion(self.embedder.encode(texts, batch_size=64))
        report("training head", 0.5)
        self._set_head(self._fit_head(x[y != OUT_OF_SCOPE], y[y != OUT_OF_SCOPE]))
        report("calibrating", 0.6)
        self._calibrate_cv(x, y)

    def _fit_finetuned(self, texts: list[str], y: np.ndarray, report: Progress) -> None:
        """Fine-tune on 80 % of each intent's examples to choose the threshold on the other 20 % (and the
        oos rows), then fine-tune on all of them; above SERVE_CALIBRATION_ABOVE examples the 80 % encoder
        is served instead, so thousands of rows cost one fine-tune.

        A threshold chosen on rows the tuned encoder has seen is too high: it rejects new in-scope
        messages (CLINC150 10-shot val: see docs/benchmarks.md).
        """
        device = _pick_device(self.device)
        config = self.finetune_config or default_finetune_config(device)
        in_scope = y != OUT_OF_SCOPE
        train_rows, held_rows = holdout_split(y)
        if not len(held_rows):  # every intent has a single example: nothing to hold out
            self._fit_encoder_and_head(texts, y, np.flatnonzero(in_scope), device, config, report, (0.0, 0.9))
            report("calibrating", 0.95)
            self._calibrate_cv(self._x, y)
            self.calibration["seen_rows"] = True
        else:
            serve_calibration = int(in_scope.sum()) > SERVE_CALIBRATION_ABOVE
            span = (0.0, 0.9) if serve_calibration else (0.0, 0.45)
            self._fit_encoder_and_head(texts, y, train_rows, device, config, report, span)
            report("calibrating", span[1])
            self._calibrate_holdout(y, held_rows)
            if serve_calibration:
                self.calibration["served_encoder"] = "the calibration run's (80 % of the examples)"
                self._set_head(self._fit_head(self._x[in_scope], y[in_scope]))
            else:
                self.calibration["served_encoder"] = "trained on all examples"
                self._fit_encoder_and_head(texts, y, np.flatnonzero(in_scope), device, config, report, (0.45, 0.95))
        self.calibration["finetune"] = asdict(config) | {"device": device}
        del self._x

    def _fit_encoder_and_head(
        self, texts: list[str], y: np.ndarray, rows: np.ndarray, device: str, config: FinetuneConfig,
        report: Progress, span: tuple[float, float],
    ) -> FinetunedEncoder:
        """Fine-tune a copy of the body on `rows`, embed every text with it (kept in self._x), fit the head on rows."""
        low, high = span
        path = Path(self.embedder.path)  # type: ignore[attr-defined]
        report("fine-tuning", low)
        body = finetune(path, [texts[i] for i in rows], y[rows].tolist(), config, device,
                        lambda _, f: report("fine-tuning", low + 0.85 * (high - low) * f))
        self.encoder = FinetunedEncoder(body, f"{self.embedder.name}+intents")
        report("embedding", low + 0.85 * (high - low))
        self._x = self._with_companion(self.encoder.encode(texts))
        report("training head", low + 0.95 * (high - low))
        self._set_head(self._fit_head(self._x[rows], y[rows]))
        return self.encoder

    def _calibrate_holdout(self, y: np.ndarray, held_rows: np.ndarray) -> None:
        """Threshold from the current head's predictions on held-out rows and every oos row; keep them
        (thresholded) in self.held_out, the evaluation of a model trained without those rows."""
        scored = np.concatenate([held_rows, np.flatnonzero(y == OUT_OF_SCOPE)])
        proba = self._x[scored] @ self.coef.T + self.intercept  # type: ignore[operator]
        conf, top = _softmax_top(proba, self.classes)
        self.threshold, objective = pick_threshold(conf, top, y[scored])
        predicted = np.where(conf >= self.threshold, top, OUT_OF_SCOPE)
        self.held_out = HeldOut(y[scored].tolist(), predicted.tolist())
        self.calibration = {"method": "held-out fine-tune", "held_out": len(held_rows),
                            "oos_scored": int(len(scored) - len(held_rows)), "objective": round(objective, 4),
                            "with_oos": bool((y == OUT_OF_SCOPE).any())}

    def _with_companion(self, main: np.ndarray) -> np.ndarray:
        """Training vectors: the main ones with the companion's (embedded once per fit) appended."""
        if self._companion_x is None:
            return main
        return np.hstack([main, self._companion_x]).astype(np.float32)

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
        vectors = self._vectors(list(texts))
        conf, top = _softmax_top(vectors @ self.coef.T + self.intercept, self.classes)
        return [
            Prediction(str(t) if c >= self.threshold else OUT_OF_SCOPE, float(c), str(t))
            for c, t in zip(conf, top, strict=True)
        ]

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """The head's input for texts. One text (a customer's message) is cached by its exact text, and
        small calls run on one torch thread (knowledge.embeddings.single_thread)."""
        cache = len(texts) == 1 and self.prediction_cache_size > 0
        if cache:
            with self._features_lock:
                cached = self._features.get(texts[0])
                if cached is not None:
                    self._features.move_to_end(texts[0])
                    return cached[None, :].copy()
        if len(texts) <= SMALL_BATCH:
            with single_thread():
                vectors = self._encode(texts)
        else:
            vectors = self._encode(texts)
        if cache:
            with self._features_lock:
                self._features[texts[0]] = vectors[0].copy()
                if len(self._features) > self.prediction_cache_size:
                    self._features.popitem(last=False)
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        main = self.encoder.encode(texts) if self.encoder is not None else self.embedder.encode(texts)
        return intent_companion.join(main, self.companion, texts)

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
            "companion": self.companion.spec if self.companion is not None else None,
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
        model.companion = intent_companion.load(meta["companion"]) if meta.get("companion") else None
        model.classes, model.threshold = meta["classes"], meta["threshold"]
        model.calibration = meta.get("calibration", {})
        model.coef, model.intercept = arrays["coef"], arrays["intercept"]
        if meta.get("encoder"):
            try:
                model.encoder = FinetunedEncoder.load(folder, f"{embedder.name}+intents", _pick_device(device))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{folder}: cannot load the fine-tuned intent encoder ({exc}); retrain it") from exc
        return model

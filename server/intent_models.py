"""Versioned intent models of a bot: train a version (scored on held-out data), promote, roll back.

Each training run writes a new IntentModel row and its own folder under the data folder. The
runtime serves the bot's one active version; promoting or rolling back switches it at once
(the bot's runtime is rebuilt on its next turn).
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.intents import OUT_OF_SCOPE
from bot.intents.classifier import IntentClassifier
from bot.intents.data import Examples
from bot.intents.metrics import evaluate
from bot.intents.report import build_report
from server.errors import BadRequest, NotFound
from server.store import get_bot
from server.tables import Bot, Intent, IntentExample, IntentModel, utcnow

if TYPE_CHECKING:
    from server.runtimes import RuntimeRegistry

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]
"""Called with what training is doing and the fraction done (0 to 1)."""

EVAL_FOLDS = 5  # cross-validated predictions up to HOLDOUT_ABOVE examples ...
HOLDOUT_ABOVE = 1000  # ... above that (or when each fit fine-tunes) one stratified 80/20 split: two fits
EMBED_SHARE = 0.3  # share of the progress bar given to embedding the examples (frozen method)
KEEP_FILES = 5  # model folders kept besides the active one (a fine-tuned version weighs ~90 MB)
DEFAULT_METHOD = "auto"  # IntentClassifier's method: "auto" fine-tunes when the embedder allows it


def _no_progress(_: str, __: float) -> None:
    return None


def bot_examples(session: Session, bot: Bot) -> Examples:
    """All stored examples of a bot, whatever their source; the intent 'oos' gives out-of-scope rows."""
    rows = session.exec(
        select(IntentExample.text, Intent.name)
        .join(Intent)
        .where(Intent.bot_id == bot.id)
        .order_by(col(IntentExample.created_at), col(IntentExample.id))
    ).all()
    unique = list(dict.fromkeys(rows))  # the same text labelled twice the same way counts once
    return Examples([text for text, _ in unique], [name for _, name in unique])


class _MemoEmbedder:
    """Wraps the shared embedder so one training run embeds each text once, however many fits it does."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._vectors: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:  # name, dim, spec, ... of the real embedder
        return getattr(self._inner, name)

    def warm(self, texts: list[str], on_fraction: Callable[[float], None], batch: int = 256) -> None:
        """Embed the texts not seen yet, in batches, reporting the fraction done."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            self._vectors.update(zip(part, self._inner.encode(part, batch_size=64), strict=True))
            on_fraction(min(1.0, (start + len(part)) / len(todo)))

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of texts, from the memo when already embedded."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self._inner.encode(missing, batch_size=batch_size), strict=True))
        if not texts:
            return np.zeros((0, self._inner.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def _fit(model: IntentClassifier, texts: list[str], labels: list[str], on_fraction: Callable[[float], None]) -> None:
    """model.fit, passing a progress callback when this version of fit() accepts one."""
    on_fraction(0.0)
    if "progress" not in inspect.signature(model.fit).parameters:
        model.fit(texts, labels)
        on_fraction(1.0)
        return

    def callback(*args: Any, **kwargs: Any) -> None:
        # Accept progress(fraction), progress(done, total) or either with a message beside them.
        numbers = [a for a in (*args, *kwargs.values()) if isinstance(a, int | float) and not isinstance(a, bool)]
        if len(numbers) >= 2 and numbers[1]:
            on_fraction(min(1.0, max(0.0, numbers[0] / numbers[1])))
        elif numbers:
            on_fraction(min(1.0, max(0.0, numbers[0] / 100 if numbers[0] > 1 else numbers[0])))

    model.fit(texts, labels, progress=callback)
    on_fraction(1.0)


def plan_evaluation(
    labels: list[str], costly_fits: bool = False
) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """How to score a new model on data it was not trained on: k-fold, or one 80/20 split when
    there are many examples or each fit is costly (a fine-tune).

    Returns ("", []) with the reason in place of the method when there are too few examples.
    """
    counts = Counter(label for label in labels if label != OUT_OF_SCOPE)
    smallest = min(counts.values(), default=0)
    if smallest < 2:
        return "too few examples: every intent needs at least 2 for a held-out evaluation", []
    y = np.array(labels)
    with warnings.catch_warnings():  # few oos rows make sklearn warn about the smallest class
        warnings.simplefilter("ignore", UserWarning)
        if costly_fits or len(labels) > HOLDOUT_ABOVE:
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
            return "stratified 80/20 hold-out", list(splitter.split(y, _stratify_labels(y)))
        folds = min(EVAL_FOLDS, smallest)
        splitter_k = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        return f"{folds}-fold cross-validation", list(splitter_k.split(y, y))


def _stratify_labels(y: np.ndarray) -> np.ndarray:
    """Labels to stratify a hold-out split on; out-of-scope rows too few to split go with the largest class."""
    counts = Counter(y.tolist())
    if counts.get(OUT_OF_SCOPE, 0) == 1:
        return np.where(y == OUT_OF_SCOPE, counts.most_common(1)[0][0], y)
    return y


def _held_out_metrics(
    embedder: _MemoEmbedder, data: Examples, splits: list[tuple[np.ndarray, np.ndarray]], progress: Progress,
    span: tuple[float, float],
) -> tuple[dict[str, Any], IntentClassifier]:
    """Scores of models trained without the rows they predict, over the given splits; and the last model."""
    texts, labels = np.array(data.texts, dtype=object), np.array(data.labels, dtype=object)
    gold: list[str] = []
    predicted: list[str] = []
    low, high = span
    for n, (train_idx, test_idx) in enumerate(splits):
        step = (high - low) / len(splits)
        message = f"evaluating on held-out examples ({n + 1}/{len(splits)})"
        model = _classifier(embedder, "frozen")
        _fit(model, texts[train_idx].tolist(), labels[train_idx].tolist(),
             lambda f, s=low + n * step, w=step, m=message: progress(m, s + f * w))
        gold += labels[test_idx].tolist()
        predicted += [p.intent for p in model.predict(texts[test_idx].tolist())]
    return {**evaluate(gold, predicted), **build_report(gold, predicted)}, model


def _classifier(embedder: Any, method: str | None = None) -> IntentClassifier:
    """A new classifier with `method` (default DEFAULT_METHOD), when this IntentClassifier takes a method."""
    if "method" in inspect.signature(IntentClassifier).parameters:
        return IntentClassifier(embedder, method=method or DEFAULT_METHOD)  # type: ignore[call-arg]
    return IntentClassifier(embedder)


def _method(registry: RuntimeRegistry) -> str:
    """The configured intent method (FRONTDESK_INTENT_METHOD); 'auto' means DEFAULT_METHOD."""
    configured = getattr(registry.settings, "intent_method", "auto")
    return DEFAULT_METHOD if configured == "auto" else configured


def _fine_tunes(embedder: Any, method: str) -> bool:
    """Whether each fit will fine-tune the encoder (minutes each on a CPU, not seconds)."""
    try:
        from bot.intents.classifier import can_finetune
    except ImportError:
        return False
    return method != "frozen" and bool(can_finetune(embedder))


def train_version(
    registry: RuntimeRegistry, slug: str, promote: bool = True, progress: Progress | None = None,
    evaluate_first: bool = True,
) -> IntentModel:
    """Train a new version from the bot's stored examples, score it on held-out data, save it.

    Args:
        registry: the process's runtimes (database, settings, embedder).
        slug: the bot.
        promote: make it the active version; a bot's first model is always promoted.
        progress: called with a message and the fraction done.
        evaluate_first: score it on held-out data (extra fits); off only where speed matters more (demo seed).

    Returns:
        The stored IntentModel row.
    """
    sink = progress or _no_progress

    def report(message: str, fraction: float) -> None:
        sink(message, round(min(1.0, fraction), 4))

    started = time.perf_counter()
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        data = bot_examples(session, bot)
    intents = {label for label in data.labels if label != OUT_OF_SCOPE}
    if len(intents) < 2:
        raise BadRequest(f"bot {slug!r} needs examples of at least two intents to train (has {len(intents)})")
    embedder = _MemoEmbedder(registry.embedder())
    configured = _method(registry)
    if _fine_tunes(embedder, configured):
        model, method, metrics = _train_finetuned(embedder, data, report, evaluate_first, configured)
    else:
        model, method, metrics = _train_frozen(embedder, data, report, evaluate_first)
    row = _save_version(registry, bot, model, data, method, metrics, time.perf_counter() - started)
    report("saved", 1.0)
    if promote or _active(registry, bot) is None:
        row = promote_version(registry, slug, row.version)
    prune_files(registry, bot)
    return row



def _train_finetuned(
    embedder: _MemoEmbedder, data: Examples, report: Progress, evaluate_first: bool, method: str
) -> tuple[IntentClassifier, str, dict[str, Any] | None]:
    """One fit: the fine-tune's own calibration run (trained without 20 % of each intent's examples)
    is the held-out evaluation, so no extra fine-tunes are spent on scoring."""
    model = _classifier(embedder, method)
    _fit(model, data.texts, data.labels, lambda f: report("training the model", f))
    held = getattr(model, "held_out", None)
    if not evaluate_first:
        return model, "not evaluated", None
    if held is None:
        return model, "too few examples: every intent needs at least 2 for a held-out evaluation", None
    method = "held-out 20 % of each intent's examples (the fine-tune's calibration run; oos rows all scored)"
    return model, method, {**evaluate(held.gold, held.predicted), **build_report(held.gold, held.predicted)}


def _train_frozen(
    embedder: _MemoEmbedder, data: Examples, report: Progress, evaluate_first: bool
) -> tuple[IntentClassifier, str, dict[str, Any] | None]:
    """Cheap fits: score on k-fold (or 80/20 for many rows) held-out models, then fit on everything."""
    report("embedding examples", 0.0)
    embedder.warm(data.texts, lambda f: report("embedding examples", f * EMBED_SHARE))
    method, splits = plan_evaluation(data.labels) if evaluate_first else ("not evaluated", [])
    final_start = EMBED_SHARE + (1 - EMBED_SHARE) * len(splits) / (len(splits) + 1)
    metrics = _held_out_metrics(embedder, data, splits, report, (EMBED_SHARE, final_start))[0] if splits else None
    model = _classifier(embedder, "frozen")
    _fit(model, data.texts, data.labels, lambda f: report("training the model", final_start + f * (1 - final_start)))
    return model, method, metrics


def prune_files(registry: RuntimeRegistry, bot: Bot, keep: int = KEEP_FILES) -> list[int]:
    """Delete the folders of all but the newest `keep` versions (never the active one's); rows stay."""
    import shutil

    with Session(registry.engine) as session:
        rows = session.exec(
            select(IntentModel).where(IntentModel.bot_id == bot.id).order_by(col(IntentModel.version).desc())
        ).all()
    pruned = []
    for row in [r for r in rows if r.status != "active"][keep:]:
        folder = registry.settings.data_dir / row.folder
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            pruned.append(row.version)
    return pruned


def _save_version(
    registry: RuntimeRegistry, bot: Bot, model: IntentClassifier, data: Examples, method: str,
    metrics: dict[str, Any] | None, seconds: float,
) -> IntentModel:
    row = IntentModel(bot_id=bot.id, version=0, folder="")
    row.folder = f"intents/{bot.slug}/{row.id}"  # named by id: two runs at once never share a folder
    model.save(registry.settings.data_dir / row.folder)
    meta = _read_meta(registry, row.folder)
    oos = sum(label == OUT_OF_SCOPE for label in data.labels)
    row.method = str(meta.pop("method", "logistic-regression head on frozen sentence embeddings"))
    meta.pop("classes", None)
    row.params = {**meta, "evaluation": method}
    row.examples, row.oos_examples, row.intents = len(data.labels) - oos, oos, len(model.classes)
    row.threshold, row.train_seconds, row.metrics = round(float(model.threshold), 4), round(seconds, 2), metrics
    with Session(registry.engine, expire_on_commit=False) as session:
        latest = session.exec(select(func.max(IntentModel.version)).where(IntentModel.bot_id == bot.id)).one()
        row.version = (latest or 0) + 1
        session.add(row)
        session.commit()
    return row


def _read_meta(registry: RuntimeRegistry, folder: str) -> dict[str, Any]:
    import json

    path = registry.settings.data_dir / folder / "meta.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _active(registry: RuntimeRegistry, bot: Bot) -> IntentModel | None:
    with Session(registry.engine) as session:
        return active_model(session, bot.id)


def active_model(session: Session, bot_id: str) -> IntentModel | None:
    """The bot's active version (the most recently promoted, should two ever be active)."""
    query = (
        select(IntentModel)
        .where(IntentModel.bot_id == bot_id, IntentModel.status == "active")
        .order_by(col(IntentModel.promoted_at).desc())
    )
    return session.exec(query).first()


def list_models(registry: RuntimeRegistry, slug: str) -> list[IntentModel]:
    """The bot's versions, newest first."""
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        query = select(IntentModel).where(IntentModel.bot_id == bot.id).order_by(col(IntentModel.version).desc())
        return list(session.exec(query).all())


def get_model(session: Session, bot: Bot, version: int) -> IntentModel:
    """A version of the bot's model, or NotFound."""
    row = session.exec(select(IntentModel).where(IntentModel.bot_id == bot.id, IntentModel.version == version)).first()
    if row is None:
        raise NotFound(f"bot {bot.slug!r} has no intent model version {version}", code="unknown_version")
    return row


def promote_version(registry: RuntimeRegistry, slug: str, version: int) -> IntentModel:
    """Make a version the active one; the bot's next turn uses it."""
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        row = get_model(session, bot, version)
        if not (registry.settings.data_dir / row.folder / "meta.json").is_file():
            raise BadRequest(f"the files of version {version} are missing from {row.folder}; train a new one")
        actives = select(IntentModel).where(IntentModel.bot_id == bot.id, IntentModel.status == "active")
        for other in session.exec(actives):
            if other.id != row.id:
                other.status = "retired"
                session.add(other)
        row.status, row.promoted_at = "active", utcnow()
        session.add(row)
        session.commit()
    registry.invalidate(slug)
    log.info("intent model v%d of %s is active", version, slug)
    return row


def rollback(registry: RuntimeRegistry, slug: str) -> IntentModel:
    """Go back to the version that was active before the current one."""
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        current = active_model(session, bot.id)
        if current is None or current.promoted_at is None:
            raise BadRequest(f"bot {slug!r} has no active intent model to roll back")
        earlier = session.exec(
            select(IntentModel)
            .where(
                IntentModel.bot_id == bot.id,
                IntentModel.status == "retired",
                col(IntentModel.promoted_at) < current.promoted_at,
            )
            .order_by(col(IntentModel.promoted_at).desc())
        ).first()
        if earlier is None:
            raise BadRequest(f"{slug!r}: version {current.version} was the first active one; nothing to go back to")
        # The earlier version keeps its promotion time, so a second rollback goes one further back.
        current.status, earlier.status = "retired", "active"
        session.add(current)
        session.add(earlier)
        session.commit()
    registry.invalidate(slug)
    log.info("intent model of %s rolled back from v%d to v%d", slug, current.version, earlier.version)
    return earlier


def model_summary(row: IntentModel) -> dict[str, Any]:
    """A version as JSON (the CLI's `intents models --json` and the console)."""
    metrics = row.metrics or {}
    return {
        "version": row.version,
        "status": row.status,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "promoted_at": row.promoted_at.isoformat(timespec="seconds") if row.promoted_at else None,
        "method": row.method,
        "evaluation": row.params.get("evaluation"),
        "intents": row.intents,
        "examples": row.examples,
        "oos_examples": row.oos_examples,
        "threshold": row.threshold,
        "train_seconds": row.train_seconds,
        **{k: metrics[k] for k in ("accuracy", "macro_f1", "n", "oos_recall", "in_scope_accuracy") if k in metrics},
    }

"""A bot's intent examples (from CSV, the console and labelled conversations), training and evaluation."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, delete, select

from bot.errors import BotError
from bot.intents import OUT_OF_SCOPE
from bot.intents.data import Examples, normalise_label
from bot.intents.metrics import evaluate
from server.errors import BadRequest, Conflict, FrontdeskError, NotFound
from server.intent_models import Progress, train_version
from server.runtimes import RuntimeRegistry
from server.store import get_bot
from server.tables import Bot, Intent, IntentExample, IntentModel

log = logging.getLogger(__name__)
SOURCES = ("csv", "console", "conversation")
MAX_EXAMPLE_CHARS = 1000
MAX_INTENT_CHARS = 64


@dataclass
class TrainReport:
    """How training went."""

    intents: int
    examples: int
    oos_examples: int
    threshold: float
    seconds: float
    version: int = 0
    status: str = ""
    metrics: dict[str, Any] | None = None
    evaluation: str = ""  # how the scores were measured, or why there are none


def intent_name(raw: str | None) -> str:
    """A clean intent name; empty or any casing of 'oos' means out-of-scope."""
    name = normalise_label(raw)
    if len(name) > MAX_INTENT_CHARS:
        raise BadRequest(f"intent names are at most {MAX_INTENT_CHARS} characters")
    if any(ch.isspace() and ch != " " for ch in name):
        raise BadRequest("intent names are one line")
    return name


def example_text(raw: str | None) -> str:
    """A clean example text, or BadRequest."""
    text = " ".join((raw or "").split())
    if not text:
        raise BadRequest("the example text is empty")
    if len(text) > MAX_EXAMPLE_CHARS:
        raise BadRequest(f"an example is at most {MAX_EXAMPLE_CHARS} characters")
    return text


def _intent(session: Session, bot: Bot, name: str) -> Intent:
    """The bot's intent of that name, created when new."""
    found = session.exec(select(Intent).where(Intent.bot_id == bot.id, Intent.name == name)).first()
    if found is None:
        found = Intent(bot_id=bot.id, name=name)
        session.add(found)
        session.flush()
    return found


def store_examples(registry: RuntimeRegistry, slug: str, examples: Examples, source: str = "csv") -> int:
    """Replace the bot's examples from this source with these; console and conversation ones stay.

    Out-of-scope rows are kept under the intent 'oos' so that retraining can tune the threshold.
    Returns the number of examples stored.
    """
    if source not in SOURCES:
        raise BadRequest(f"unknown example source {source!r}; known: {list(SOURCES)}")
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        intent_ids = select(Intent.id).where(Intent.bot_id == bot.id)
        session.exec(  # type: ignore[call-overload]
            delete(IntentExample).where(col(IntentExample.intent_id).in_(intent_ids), IntentExample.source == source)
        )
        cache: dict[str, Intent] = {}
        stored = 0
        for text, label in dict.fromkeys(zip(examples.texts, examples.labels, strict=True)):
            name = intent_name(label)
            if name not in cache:
                cache[name] = _intent(session, bot, name)
            session.add(IntentExample(intent_id=cache[name].id, text=example_text(text), source=source))
            stored += 1
        session.commit()
    return stored


def add_example(
    registry: RuntimeRegistry, slug: str, intent: str | None, text: str | None, source: str = "console",
    message_id: str | None = None,
) -> IntentExample:
    """Add one example; labelling a message again moves its example to the new intent."""
    name, clean = intent_name(intent), example_text(text)
    with Session(registry.engine, expire_on_commit=False) as session:
        bot = get_bot(session, slug)
        if message_id is not None:
            earlier = session.exec(
                select(IntentExample)
                .join(Intent)
                .where(Intent.bot_id == bot.id, IntentExample.message_id == message_id)
            ).all()
            for row in earlier:
                session.delete(row)
        target = _intent(session, bot, name)
        duplicate = session.exec(
            select(IntentExample).where(IntentExample.intent_id == target.id, IntentExample.text == clean)
        ).first()
        if duplicate is not None and message_id is None:
            raise Conflict(f"{clean!r} is already an example of {name!r}", code="duplicate_example")
        example = IntentExample(intent_id=target.id, text=clean, source=source, message_id=message_id)
        session.add(example)
        session.commit()
    return example


def delete_example(registry: RuntimeRegistry, slug: str, example_id: str) -> None:
    """Delete one example of the bot."""
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        row = session.exec(
            select(IntentExample).join(Intent).where(Intent.bot_id == bot.id, IntentExample.id == example_id)
        ).first()
        if row is None:
            raise NotFound("no such example", code="unknown_example")
        session.delete(row)
        session.commit()


def intent_names(session: Session, bot_id: str) -> list[str]:
    """The bot's intent names, out-of-scope left out."""
    query = select(Intent.name).where(Intent.bot_id == bot_id, Intent.name != OUT_OF_SCOPE).order_by(Intent.name)
    return list(session.exec(query).all())


def message_labels(session: Session, bot_id: str, message_ids: list[str]) -> dict[str, str]:
    """Message id -> the intent it was labelled with, for those of these messages that were."""
    if not message_ids:
        return {}
    rows = session.exec(
        select(IntentExample.message_id, Intent.name)
        .join(Intent)
        .where(Intent.bot_id == bot_id, col(IntentExample.message_id).in_(message_ids))
    ).all()
    return {message_id: name for message_id, name in rows if message_id}


def train(
    registry: RuntimeRegistry, slug: str, examples: Examples, promote: bool = True, progress: Progress | None = None,
    evaluate_first: bool = True,
) -> TrainReport:
    """Store the CSV examples, train a new version on all the bot's examples, promote it by default."""
    started = time.perf_counter()
    store_examples(registry, slug, examples, "csv")
    row = train_version(registry, slug, promote=promote, progress=progress, evaluate_first=evaluate_first)
    return report_of(row, time.perf_counter() - started)


def report_of(row: IntentModel, seconds: float) -> TrainReport:
    """The TrainReport of a stored version."""
    return TrainReport(
        intents=row.intents, examples=row.examples, oos_examples=row.oos_examples, threshold=row.threshold,
        seconds=round(seconds, 2), version=row.version, status=row.status, metrics=row.metrics,
        evaluation=str(row.params.get("evaluation", "")),
    )


def evaluate_bot(registry: RuntimeRegistry, slug: str, examples: Examples) -> dict[str, float | int]:
    """Score the bot's active intent model on labelled examples."""
    runtime = registry.get(slug)
    if runtime.intents is None:
        raise BadRequest(f"bot {slug!r} has no trained intent model; run 'frontdesk intents train' first")
    predictions = runtime.intents.predict(examples.texts)
    return evaluate(examples.labels, [p.intent for p in predictions])


@dataclass
class TrainingJob:
    """A training run started from the console: queued -> training -> done | failed."""

    slug: str
    promote: bool
    state: str = "queued"
    phase: str = "waiting for another training run to finish"
    fraction: float = 0.0
    version: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Queued or training."""
        return self.state in ("queued", "training")

    @property
    def percent(self) -> int:
        """Progress in whole percent."""
        return int(round(self.fraction * 100))


class TrainingJobs:
    """Background training runs, one at a time in the process (two would halve each one's CPU)."""

    def __init__(self) -> None:
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()

    def get(self, slug: str) -> TrainingJob | None:
        """The bot's latest job in this process."""
        with self._lock:
            return self._jobs.get(slug)

    def start(self, registry: RuntimeRegistry, slug: str, promote: bool) -> TrainingJob:
        """Queue a training run of the bot; Conflict while one is queued or training."""
        with self._lock:
            current = self._jobs.get(slug)
            if current is not None and current.running:
                raise Conflict(f"bot {slug!r} is already training", code="training_in_progress")
            job = TrainingJob(slug, promote)
            job.thread = threading.Thread(target=self._run, args=(registry, job), name=f"train-{slug}", daemon=True)
            self._jobs[slug] = job
        job.thread.start()
        return job

    def _run(self, registry: RuntimeRegistry, job: TrainingJob) -> None:
        with self._one_at_a_time:
            job.state, job.phase = "training", "starting"

            def progress(phase: str, fraction: float) -> None:
                job.phase, job.fraction = phase, fraction

            try:
                row = train_version(registry, job.slug, promote=job.promote, progress=progress)
            except (FrontdeskError, BotError) as exc:
                job.error, job.state = str(exc), "failed"
            except Exception as exc:  # the thread must record the failure, whatever it is
                log.exception("training %s failed", job.slug)
                job.error, job.state = f"internal error: {type(exc).__name__}", "failed"
            else:
                job.version, job.fraction, job.phase = row.version, 1.0, "done"
                job.finished = time.time()
                job.state = "done"  # last: a page that reads "done" finds the rest set
                return
            job.finished = time.time()


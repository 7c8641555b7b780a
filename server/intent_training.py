"""Training and evaluating a bot's intent model from labelled examples."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlmodel import Session, delete, select

from bot.intents import OUT_OF_SCOPE
from bot.intents.classifier import IntentClassifier
from bot.intents.data import Examples
from bot.intents.metrics import evaluate
from server.runtimes import RuntimeRegistry, intent_folder
from server.store import get_bot
from server.tables import Intent, IntentExample


@dataclass
class TrainReport:
    """How training went."""

    intents: int
    examples: int
    oos_examples: int
    threshold: float
    seconds: float


def store_examples(registry: RuntimeRegistry, slug: str, examples: Examples) -> None:
    """Replace the bot's imported intents and examples with these (oos rows are not stored)."""
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        existing = {i.name: i for i in session.exec(select(Intent).where(Intent.bot_id == bot.id)).all()}
        for intent in existing.values():
            session.exec(delete(IntentExample).where(IntentExample.intent_id == intent.id))  # type: ignore[call-overload]
        for text, label in zip(examples.texts, examples.labels, strict=True):
            if label == OUT_OF_SCOPE:
                continue
            if label not in existing:
                existing[label] = Intent(bot_id=bot.id, name=label)
                session.add(existing[label])
                session.flush()
            session.add(IntentExample(intent_id=existing[label].id, text=text))
        session.commit()


def train(registry: RuntimeRegistry, slug: str, examples: Examples) -> TrainReport:
    """Store the examples, train the head, save it as the bot's current model."""
    started = time.perf_counter()
    store_examples(registry, slug, examples)
    model = IntentClassifier(registry.embedder()).fit(examples.texts, examples.labels)
    model.save(intent_folder(registry.settings, slug))
    registry.invalidate(slug)
    oos = sum(label == OUT_OF_SCOPE for label in examples.labels)
    return TrainReport(
        intents=len(model.classes),
        examples=len(examples.texts) - oos,
        oos_examples=oos,
        threshold=round(model.threshold, 4),
        seconds=round(time.perf_counter() - started, 2),
    )


def evaluate_bot(registry: RuntimeRegistry, slug: str, examples: Examples) -> dict[str, float | int]:
    """Score the bot's current intent model on labelled examples."""
    runtime = registry.get(slug)
    if runtime.intents is None:
        from server.errors import BadRequest

        raise BadRequest(f"bot {slug!r} has no trained intent model; run 'frontdesk intents train' first")
    predictions = runtime.intents.predict(examples.texts)
    return evaluate(examples.labels, [p.intent for p in predictions])

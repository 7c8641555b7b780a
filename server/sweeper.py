"""The sweeper: customer messages whose turn died with its worker get a recorded outcome.

A worker that is killed (or loses its database) between storing a customer message and storing the
reply leaves the message `received` for good. The sweeper runs at startup and then periodically in
every worker. A message still `received` after `stale_after_seconds` (longer than the longest turn
allowed) is marked `failed` with the reason on its trace, and an apology reply is stored beside it,
so the customer sees the outcome in the history when they come back.

Each message is claimed with `UPDATE message SET status='failed' WHERE id=:id AND status='received'`
in the same transaction that stores the apology: on PostgreSQL a second sweeper blocks on the row
lock and then finds the status changed (0 rows), and SQLite serialises writers, so two workers never
both take the same message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy import and_, exists, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot import handoff
from server import store
from server.tables import Conversation, Message, utcnow

log = logging.getLogger(__name__)
ABANDONED = "abandoned"  # the trace's `outcome` of a swept message
APOLOGY = "Sorry, we could not answer this message because of a problem on our side. Please send it again."


class SweeperSettings(BaseModel):
    """When the sweeper runs and what it counts as stale (FRONTDESK_SWEEPER__*)."""

    enabled: bool = Field(default=True, description="Run the sweeper in this worker.")
    stale_after_seconds: float = Field(
        default=300, ge=1, description="A customer message still unanswered after this long gets a failed outcome."
    )
    interval_seconds: float = Field(default=60, gt=0, description="Time between two sweeps.")
    batch: int = Field(default=200, ge=1, le=10_000, description="Most messages one sweep takes.")


def settings_of(settings: object) -> SweeperSettings:
    """The sweeper settings of the app's settings (the defaults where it has none)."""
    found = getattr(settings, "sweeper", None)
    return found if isinstance(found, SweeperSettings) else SweeperSettings()


@dataclass(frozen=True)
class Swept:
    """One customer message the sweeper took: its id, its conversation and the stored apology."""

    message_id: str
    conversation_id: str
    reply_id: str


def stale_ids(session: Session, stale_after: timedelta, limit: int) -> list[str]:
    """Ids of customer messages still `received` after stale_after, whose conversation the bot owns.

    Messages of a conversation a person holds wait for that person, not for a turn; a message that
    already has a reply, or that an agent answered after, is not abandoned either. A message re-sent
    after a busy refusal counts from the re-send (`trace.retried_at`), not from when it was stored.
    """
    reply = aliased(Message)
    later_agent = aliased(Message)
    cutoff = utcnow() - stale_after
    query = (
        select(Message.id)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            col(Message.role) == "customer",
            col(Message.status) == "received",
            col(Message.created_at) < cutoff,
            store.not_retried_after(cutoff),  # a message re-sent after a busy refusal: its clock restarted
            col(Conversation.status) == handoff.BOT,
            ~exists().where(reply.reply_to == Message.id),
            ~exists().where(
                and_(
                    later_agent.conversation_id == Message.conversation_id,
                    later_agent.role == "agent",
                    later_agent.created_at > Message.created_at,
                )
            ),
        )
        .order_by(col(Message.created_at))
        .limit(limit)
    )
    return list(session.exec(query).all())


def claim(session: Session, message_id: str, stale_after: timedelta) -> Swept | None:
    """Mark one message failed and store the apology, in one transaction; None if another worker took it."""
    reason = f"no reply within {int(stale_after.total_seconds())} s: the worker running the turn stopped"
    trace = {**store.trace_of(session, message_id), "error": reason, "outcome": ABANDONED}  # keep audio, address
    result = session.exec(  # type: ignore[call-overload]
        update(Message)
        .where(col(Message.id) == message_id, col(Message.status) == "received")
        .values(status="failed", trace=trace)
    )
    if result.rowcount != 1:
        session.rollback()
        return None
    conversation_id = session.exec(select(Message.conversation_id).where(Message.id == message_id)).one()
    apology = Message(
        conversation_id=conversation_id,
        role="bot",
        text=APOLOGY,
        reply_to=message_id,
        status="sent",
        fallback=True,
        trace={"outcome": ABANDONED, "fallback_reason": reason},
    )
    session.add(apology)
    session.commit()
    return Swept(message_id, conversation_id, apology.id)


def sweep(engine: Engine, stale_after: timedelta, limit: int = 200) -> list[Swept]:
    """One pass: give every stale message a failed outcome and an apology; returns what this call took.

    Args:
        engine: the database.
        stale_after: how long a message may stay `received` before it counts as abandoned.
        limit: the most messages to take in this pass.

    Returns:
        The messages this call claimed (never one another sweeper claimed).
    """
    with Session(engine, expire_on_commit=False) as session:
        candidates = stale_ids(session, stale_after, limit)
    taken = []
    for message_id in candidates:
        with Session(engine, expire_on_commit=False) as session:
            swept = claim(session, message_id, stale_after)
        if swept is not None:
            taken.append(swept)
    if taken:
        log.warning("sweeper: %d unanswered customer message(s) marked failed", len(taken))
    return taken


async def sweep_loop(engine: Engine, settings: SweeperSettings) -> None:
    """Sweep now, then every interval, until cancelled; a failed pass is logged and retried next time."""
    stale_after = timedelta(seconds=settings.stale_after_seconds)
    while True:
        try:
            await asyncio.to_thread(sweep, engine, stale_after, settings.batch)
        except Exception:  # the database may be down for a while: keep the loop alive
            log.exception("sweeper pass failed; retrying in %s s", settings.interval_seconds)
        await asyncio.sleep(settings.interval_seconds)

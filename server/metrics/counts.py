"""Additive metric counts of one bot, grouped by UTC day, channel and intent, from the raw tables.

The same grouped queries feed the live path (today, or any range without the rollup) and the
daily rollup of closed days (server/metrics/rollup.py), so both return the same figures by
construction; summing the groups that match a scope gives the scope's totals.

Keys: conversation figures go to the conversation's start day, channel and opening intent (the
intent of its first customer message, '' when it has none); message figures go to the message's
day, its conversation's channel and the message's own intent ('' when none).

A channel survey and its thanks (bot messages whose trace has "survey", server/channels/survey.py)
are no bot replies, and the customer's rating they thank is no customer message: they count only
as CSAT (Feedback rows).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, exists, false, func, literal, not_, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from server.channels.survey_texts import STORED_TEXTS
from server.tables import Conversation, Feedback, Message

HANDOFF_STATUSES = ("queued", "agent", "resolved")  # a person was asked for, or took part


class Key(NamedTuple):
    """A group of the counts: UTC day, channel, intent ('' for none)."""

    day: date
    channel: str
    intent: str


@dataclass
class Counts:
    """Additive counts; every field sums over days, channels and intents."""

    conversations: int = 0
    handoffs: int = 0
    auto_resolved: int = 0
    csat_sum: int = 0
    csat_ratings: int = 0
    csat_conversations: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    customer_messages: int = 0
    replied_messages: int = 0
    failed_turns: int = 0
    bot_replies: int = 0
    fallback_replies: int = 0

    def add(self, other: Counts) -> None:
        """Add other's counts to these, in place."""
        for name in FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Counts))
CONVERSATION_FIELDS = FIELDS[:8]
MESSAGE_FIELDS = FIELDS[8:]


def as_date(value: Any) -> date:
    """A SQL date(...) value as a date (a date on PostgreSQL, an ISO string on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def opening_intent(conversation: Any = Conversation) -> Any:
    """Scalar subquery: the intent of the conversation's first customer message, '' when none."""
    first = aliased(Message)
    return func.coalesce(
        select(first.intent)
        .where(col(first.conversation_id) == conversation.id, col(first.role) == "customer")
        .order_by(col(first.created_at), col(first.id))
        .limit(1)
        .correlate(conversation)
        .scalar_subquery(),
        literal(""),
    )


def handoff_condition(conversation: Any = Conversation) -> Any:
    """The conversation was handed to a person: queued/agent/resolved status, or an agent wrote in it."""
    agent = aliased(Message)
    wrote = _any(conversation, col(agent.conversation_id) == conversation.id, col(agent.role) == "agent")
    return or_(col(conversation.status).in_(HANDOFF_STATUSES), wrote)


def is_survey(message: Any = Message) -> Any:
    """The message is a channel survey or the thanks for a rating: a survey wording and "survey" in its trace.

    The text is compared first (CASE keeps the order) so that only those few rows have their JSON trace
    parsed: testing the trace alone parses every reply's trace, passages and all (seconds at 1M rows).
    as_string: on SQLite, the JSON value of a missing key would be the text 'null', not NULL.
    """
    marked = col(message.trace)["survey"].as_string().is_not(None)
    return case((col(message.text).in_(sorted(STORED_TEXTS)), marked), else_=false())


def not_survey(message: Any = Message) -> Any:
    """The message is no channel survey nor thanks (see is_survey)."""
    return not_(is_survey(message))


def _any(conversation: Any, *where: Any) -> Any:
    """A row matching `where` exists: a correlated LIMIT 1 probe of the conversation's messages.

    Not EXISTS: inside CASE, PostgreSQL may plan EXISTS as a hashed subplan that reads the whole
    message table; a LIMIT 1 scalar subquery stays an index probe per conversation.
    """
    return select(literal(1)).where(*where).correlate(conversation).limit(1).scalar_subquery().is_not(None)


def auto_resolved_condition(conversation: Any = Conversation) -> Any:
    """At least one non-fallback bot reply, no failed turn and no handoff (docs/metrics.md)."""
    reply, failed = aliased(Message), aliased(Message)
    answered = _any(
        conversation,
        col(reply.conversation_id) == conversation.id,
        col(reply.role) == "bot",
        not_(col(reply.fallback)),
        not_survey(reply),
    )
    broke = _any(
        conversation,
        col(failed.conversation_id) == conversation.id,
        col(failed.role) == "customer",
        col(failed.status) == "failed",
    )
    return and_(answered, not_(broke), not_(handoff_condition(conversation)))


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def grouped_counts(
    session: Session, bot_id: str, since: datetime, until: datetime, channel: str | None = None
) -> dict[Key, Counts]:
    """Counts of bot_id's conversations started and messages written in [since, until), per group."""
    out: dict[Key, Counts] = {}
    for key, values in _conversation_rows(session, bot_id, since, until, channel):
        counts = out.setdefault(key, Counts())
        for name, value in zip(CONVERSATION_FIELDS, values, strict=True):
            setattr(counts, name, int(value or 0))
    for key, values in _message_rows(session, bot_id, since, until, channel):
        counts = out.setdefault(key, Counts())
        for name, value in zip(MESSAGE_FIELDS, values, strict=True):
            setattr(counts, name, int(value or 0))
    return out


def _conversation_rows(
    session: Session, bot_id: str, since: datetime, until: datetime, channel: str | None
) -> list[tuple[Key, tuple[Any, ...]]]:
    """One row per group: conversations, handoffs, auto-resolved and their feedback."""
    is_csat, is_thumb = col(Feedback.kind) == "csat", col(Feedback.kind) == "thumb"
    feedback = (
        select(
            col(Feedback.conversation_id).label("conversation_id"),
            func.sum(case((is_csat, Feedback.score), else_=0)).label("csat_sum"),
            func.sum(_flag(is_csat)).label("csat_ratings"),
            func.sum(_flag(is_thumb & (col(Feedback.score) > 0))).label("up"),
            func.sum(_flag(is_thumb & (col(Feedback.score) < 0))).label("down"),
        )
        .join(Conversation, col(Conversation.id) == col(Feedback.conversation_id))
        .where(col(Feedback.bot_id) == bot_id, col(Conversation.bot_id) == bot_id)
        .where(col(Conversation.created_at) >= since, col(Conversation.created_at) < until)
        .group_by(col(Feedback.conversation_id))
        .subquery()
    )
    where = [
        col(Conversation.bot_id) == bot_id,
        col(Conversation.created_at) >= since,
        col(Conversation.created_at) < until,
    ]
    if channel:
        where.append(col(Conversation.channel) == channel)
    per_conversation = (
        select(
            func.date(Conversation.created_at).label("day"),
            col(Conversation.channel).label("channel"),
            opening_intent().label("intent"),
            _flag(handoff_condition()).label("handoff"),
            _flag(auto_resolved_condition()).label("auto"),
            func.coalesce(feedback.c.csat_sum, 0).label("csat_sum"),
            func.coalesce(feedback.c.csat_ratings, 0).label("csat_ratings"),
            func.coalesce(feedback.c.up, 0).label("up"),
            func.coalesce(feedback.c.down, 0).label("down"),
        )
        .select_from(Conversation)
        .outerjoin(feedback, feedback.c.conversation_id == col(Conversation.id))
        .where(*where)
        .subquery()
    )
    c = per_conversation.c
    query = select(
        c.day,
        c.channel,
        c.intent,
        func.count(),
        func.sum(c.handoff),
        func.sum(c.auto),
        func.sum(c.csat_sum),
        func.sum(c.csat_ratings),
        func.sum(_flag(c.csat_ratings > 0)),
        func.sum(c.up),
        func.sum(c.down),
    ).group_by(c.day, c.channel, c.intent)
    return [(Key(as_date(day), str(ch), str(intent)), tuple(rest)) for day, ch, intent, *rest in session.execute(query)]


def _message_rows(
    session: Session, bot_id: str, since: datetime, until: datetime, channel: str | None
) -> list[tuple[Key, tuple[Any, ...]]]:
    """One row per group: customer messages, replied, failed turns, bot replies and fallbacks.

    "Has a reply" is a correlated EXISTS on the indexed reply_to column, so no join multiplies rows.
    Surveys, their thanks and the ratings they thank are left out (see the module's docstring).
    """
    reply, thanks = aliased(Message), aliased(Message)
    is_customer, is_bot = col(Message.role) == "customer", (col(Message.role) == "bot") & not_survey()
    rating = exists().where(col(thanks.reply_to) == col(Message.id), col(thanks.role) == "bot", is_survey(thanks))
    replied = exists().where(col(reply.reply_to) == col(Message.id), col(reply.role) == "bot", not_survey(reply))
    day, intent = func.date(Message.created_at), func.coalesce(Message.intent, literal(""))
    where = [col(Conversation.bot_id) == bot_id, col(Message.created_at) >= since, col(Message.created_at) < until]
    if channel:
        where.append(col(Conversation.channel) == channel)
    query = (
        select(
            day,
            col(Conversation.channel),
            intent,
            func.sum(_flag(is_customer & not_(rating))),
            func.sum(_flag(is_customer & replied)),  # a rating's only reply is its thanks: never "replied"
            func.sum(_flag(is_customer & (col(Message.status) == "failed"))),
            func.sum(_flag(is_bot)),
            func.sum(_flag(is_bot & col(Message.fallback))),
        )
        .select_from(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(*where)
        .group_by(day, col(Conversation.channel), intent)
    )
    return [(Key(as_date(d), str(ch), str(i)), tuple(rest)) for d, ch, i, *rest in session.execute(query)]

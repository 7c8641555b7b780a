"""Metrics of one bot over a date range, computed with SQL aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, distinct, exists, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from server.metrics.scope import Scope
from server.tables import Conversation, Feedback, Message

LATENCY_SAMPLE = 5000  # latency percentiles use the most recent replies in range, at most this many
TOP_INTENTS = 10
UNANSWERED = 20


@dataclass
class DayVolume:
    """Conversations started and customer messages received on one day (UTC)."""

    day: date
    conversations: int = 0
    messages: int = 0


@dataclass
class Unanswered:
    """A customer question whose stored reply was the fallback."""

    conversation_id: str
    text: str
    created_at: datetime


@dataclass
class BotMetrics:
    """Every figure of the metrics page; rates are None when their denominator is zero."""

    conversations: int
    customer_messages: int
    replied_messages: int
    bot_replies: int
    fallback_replies: int
    failed_turns: int
    csat_average: float | None
    csat_responses: int
    thumbs_up: int
    thumbs_down: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    unanswered: list[Unanswered] = field(default_factory=list)
    daily: list[DayVolume] = field(default_factory=list)

    @property
    def reply_rate(self) -> float | None:
        """Customer messages with a stored bot reply / customer messages."""
        return ratio(self.replied_messages, self.customer_messages)

    @property
    def fallback_rate(self) -> float | None:
        """Bot replies that were the fallback / bot replies."""
        return ratio(self.fallback_replies, self.bot_replies)

    @property
    def csat_response_rate(self) -> float | None:
        """Conversations with a CSAT rating / conversations."""
        return ratio(self.csat_responses, self.conversations)

    @property
    def thumbs_up_ratio(self) -> float | None:
        """Thumbs up / all thumbs."""
        return ratio(self.thumbs_up, self.thumbs_up + self.thumbs_down)


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when whole is zero."""
    return part / whole if whole else None


def compute(session: Session, scope: Scope) -> BotMetrics:
    """All metrics of scope's bot, range and channel."""
    counts = message_counts(session, scope)
    feedback = feedback_counts(session, scope)
    p50, p95 = latency_percentiles(session, scope)
    return BotMetrics(
        conversations=conversation_count(session, scope),
        **counts,
        **feedback,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        top_intents=top_intents(session, scope),
        unanswered=unanswered(session, scope),
        daily=daily_volume(session, scope),
    )


def conversation_count(session: Session, scope: Scope) -> int:
    """Conversations started in range."""
    return session.exec(select(func.count()).select_from(Conversation).where(*scope.conversations())).one()


def message_counts(session: Session, scope: Scope) -> dict[str, int]:
    """Customer messages, those with a stored reply, failed turns, bot replies and fallbacks.

    One pass over the messages in range; "has a reply" is a correlated EXISTS on the indexed
    reply_to column, so no join multiplies rows and no COUNT(DISTINCT) is needed.
    """
    reply = aliased(Message)
    is_customer, is_bot = col(Message.role) == "customer", col(Message.role) == "bot"
    replied = exists().where(col(reply.reply_to) == col(Message.id), col(reply.role) == "bot")

    def n(condition: Any) -> Any:
        return func.count(case((condition, 1)))

    row = session.exec(
        select(
            n(is_customer),
            n(is_customer & replied),
            n(is_customer & (col(Message.status) == "failed")),
            n(is_bot),
            n(is_bot & col(Message.fallback)),
        )
        .select_from(Message)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(*scope.messages())
    ).one()
    keys = ("customer_messages", "replied_messages", "failed_turns", "bot_replies", "fallback_replies")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


def feedback_counts(session: Session, scope: Scope) -> dict[str, Any]:
    """CSAT average and responses, thumbs up and down, for conversations started in range."""
    is_csat, is_thumb = col(Feedback.kind) == "csat", col(Feedback.kind) == "thumb"
    row = session.exec(
        select(
            func.avg(case((is_csat, Feedback.score))),
            func.count(distinct(case((is_csat, Feedback.conversation_id)))),
            func.sum(case((is_thumb & (col(Feedback.score) > 0), 1), else_=0)),
            func.sum(case((is_thumb & (col(Feedback.score) < 0), 1), else_=0)),
        )
        .select_from(Feedback)
        .join(Conversation, col(Conversation.id) == col(Feedback.conversation_id))
        .where(*scope.conversations())
    ).one()
    average, responses, up, down = row
    return {
        "csat_average": None if average is None else float(average),
        "csat_responses": int(responses or 0),
        "thumbs_up": int(up or 0),
        "thumbs_down": int(down or 0),
    }


def top_intents(session: Session, scope: Scope, limit: int = TOP_INTENTS) -> list[tuple[str, int]]:
    """The most frequent intents of bot replies, most frequent first."""
    n = func.count().label("n")
    rows = session.exec(
        select(Message.intent, n)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(*scope.messages(), col(Message.role) == "bot", col(Message.intent).is_not(None))
        .group_by(Message.intent)
        .order_by(n.desc(), Message.intent)
        .limit(limit)
    ).all()
    return [(str(intent), int(count)) for intent, count in rows]


def latency_percentiles(
    session: Session, scope: Scope, limit: int = LATENCY_SAMPLE
) -> tuple[float | None, float | None]:
    """p50 and p95 of answer latency (the sum of a reply's per-stage latency_ms).

    Percentiles are not portable SQL, so they are computed here over a bounded sample: the
    most recent `limit` bot replies in range (an indexed, limited query).
    """
    traces = session.exec(
        select(Message.trace)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(*scope.messages(), col(Message.role) == "bot")
        .order_by(col(Message.created_at).desc())
        .limit(limit)
    ).all()
    values = sorted(v for v in (answer_latency(t) for t in traces) if v is not None)
    return percentile(values, 50), percentile(values, 95)


def answer_latency(trace: dict[str, Any] | None) -> float | None:
    """Total latency of one reply from its trace, or None when it has none."""
    stages = (trace or {}).get("latency_ms")
    if not isinstance(stages, dict) or not stages:
        return None
    return float(sum(v for v in stages.values() if isinstance(v, int | float)))


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values, or None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100)
    return sorted_values[int(rank) - 1]


def unanswered(session: Session, scope: Scope, limit: int = UNANSWERED) -> list[Unanswered]:
    """The most recent customer messages whose reply was the fallback."""
    customer, reply = aliased(Message), aliased(Message)
    rows = session.exec(
        select(customer.conversation_id, customer.text, customer.created_at)
        .join(Conversation, col(Conversation.id) == col(customer.conversation_id))
        .join(reply, col(reply.reply_to) == col(customer.id))
        .where(*scope.messages(customer), col(customer.role) == "customer")
        .where(col(reply.role) == "bot", col(reply.fallback))
        .order_by(col(customer.created_at).desc())
        .limit(limit)
    ).all()
    return [Unanswered(conversation_id=c, text=t, created_at=at) for c, t, at in rows]


def daily_volume(session: Session, scope: Scope) -> list[DayVolume]:
    """Conversations and customer messages per day, every day in range (zeros included)."""
    days = {d: DayVolume(d) for d in scope.days()}
    conv_day = func.date(Conversation.created_at)
    for day, n in session.exec(
        select(conv_day, func.count()).where(*scope.conversations()).group_by(conv_day)
    ).all():
        _day(days, day).conversations = int(n)
    msg_day = func.date(Message.created_at)
    for day, n in session.exec(
        select(msg_day, func.count())
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(*scope.messages(), col(Message.role) == "customer")
        .group_by(msg_day)
    ).all():
        _day(days, day).messages = int(n)
    return list(days.values())


def _day(days: dict[date, DayVolume], value: Any) -> DayVolume:
    """The entry for a SQL date (a date on PostgreSQL, an ISO string on SQLite)."""
    key = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return days.setdefault(key, DayVolume(key))

"""Metrics of one bot over a date range: additive counts (rollup + live), sampled percentiles, insights."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from server.metrics import insights, rollup
from server.metrics.counts import Counts, Key, grouped_counts
from server.metrics.insights import percentile
from server.metrics.scope import Scope
from server.tables import Conversation, Message

LATENCY_SAMPLE = 2000  # latency percentiles use the most recent replies in range, at most this many
TOP_INTENTS = 10
UNANSWERED = 20


@dataclass
class DayVolume:
    """One day (UTC) of the series: volume, outcomes and satisfaction."""

    day: date
    conversations: int = 0
    messages: int = 0
    handoffs: int = 0
    auto_resolved: int = 0
    csat_sum: int = 0
    csat_ratings: int = 0

    @property
    def resolution_rate(self) -> float | None:
        """Automatically resolved conversations / conversations started that day."""
        return ratio(self.auto_resolved, self.conversations)

    @property
    def handoff_rate(self) -> float | None:
        """Handed-off conversations / conversations started that day."""
        return ratio(self.handoffs, self.conversations)

    @property
    def csat_average(self) -> float | None:
        """Average CSAT rating of conversations started that day."""
        return ratio(self.csat_sum, self.csat_ratings)


Unanswered = insights.Question  # the latest unanswered questions of the page


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
    handoffs: int = 0
    auto_resolved: int = 0
    first_response_p50_ms: float | None = None
    first_response_p95_ms: float | None = None
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    unanswered: list[Unanswered] = field(default_factory=list)
    daily: list[DayVolume] = field(default_factory=list)
    clusters: list[insights.Cluster] = field(default_factory=list)
    gaps: list[insights.Gap] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)  # every intent seen in range, for the filter
    channels: list[str] = field(default_factory=list)  # every channel seen in range, for the filter

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

    @property
    def resolution_rate(self) -> float | None:
        """Automatically resolved conversations / conversations (docs/metrics.md)."""
        return ratio(self.auto_resolved, self.conversations)

    @property
    def handoff_rate(self) -> float | None:
        """Conversations handed to a person / conversations."""
        return ratio(self.handoffs, self.conversations)


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when whole is zero."""
    return part / whole if whole else None


def groups(
    session: Session, scope: Scope, *, use_rollup: bool = True, now: datetime | None = None
) -> dict[Key, Counts]:
    """The scope's bot's counts per (day, channel, intent): closed days from the rollup, or all live."""
    rollup.ensure_statistics(session)
    if use_rollup:
        return rollup.load(session, scope.bot_id, scope.start, scope.end, now)
    return grouped_counts(session, scope.bot_id, scope.since, scope.until)


def compute(session: Session, scope: Scope, *, use_rollup: bool = True, now: datetime | None = None) -> BotMetrics:
    """All metrics of scope's bot, range, channel and intent.

    use_rollup=False computes every count from the raw tables (the reference the rollup must equal).
    """
    in_scope = {
        k: c
        for k, c in groups(session, scope, use_rollup=use_rollup, now=now).items()
        if scope.start <= k.day <= scope.end
    }
    selected = select_groups(scope, in_scope)
    totals = Counts()
    for counts in selected.values():
        totals.add(counts)
    p50, p95 = latency_percentiles(session, scope)
    f50, f95 = insights.first_response_percentiles(session, scope)
    questions = insights.fallback_questions(session, scope)  # one sample for the latest and the clusters
    return BotMetrics(
        conversations=totals.conversations,
        customer_messages=totals.customer_messages,
        replied_messages=totals.replied_messages,
        bot_replies=totals.bot_replies,
        fallback_replies=totals.fallback_replies,
        failed_turns=totals.failed_turns,
        csat_average=ratio(totals.csat_sum, totals.csat_ratings),
        csat_responses=totals.csat_conversations,
        thumbs_up=totals.thumbs_up,
        thumbs_down=totals.thumbs_down,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        handoffs=totals.handoffs,
        auto_resolved=totals.auto_resolved,
        first_response_p50_ms=f50,
        first_response_p95_ms=f95,
        top_intents=top_intents(selected),
        unanswered=questions[:UNANSWERED],
        daily=daily_series(scope, selected),
        clusters=insights.cluster(questions),
        gaps=insights.knowledge_gaps(session, scope),
        intents=sorted({k.intent for k in in_scope if k.intent}),
        channels=sorted({k.channel for k in in_scope}),
    )


def select_groups(scope: Scope, by_group: dict[Key, Counts]) -> dict[Key, Counts]:
    """The groups inside the scope's days, channel and intent."""
    return {
        k: c
        for k, c in by_group.items()
        if scope.start <= k.day <= scope.end
        and (not scope.channel or k.channel == scope.channel)
        and (scope.intent is None or k.intent == scope.intent)
    }


def series(session: Session, scope: Scope, *, use_rollup: bool = True) -> list[DayVolume]:
    """The daily series alone (for exports): no samples, no insights."""
    return daily_series(scope, select_groups(scope, groups(session, scope, use_rollup=use_rollup)))


def top_intents(selected: dict[Key, Counts], limit: int = TOP_INTENTS) -> list[tuple[str, int]]:
    """The most frequent intents of bot replies, most frequent first (ties by name)."""
    per_intent: dict[str, int] = {}
    for key, counts in selected.items():
        if key.intent and counts.bot_replies:
            per_intent[key.intent] = per_intent.get(key.intent, 0) + counts.bot_replies
    return sorted(per_intent.items(), key=lambda item: (-item[1], item[0]))[:limit]


def daily_series(scope: Scope, selected: dict[Key, Counts]) -> list[DayVolume]:
    """Every day in range (zeros included) with its conversations, messages, outcomes and CSAT."""
    days = {d: DayVolume(d) for d in scope.days()}
    for key, c in selected.items():
        day = days.setdefault(key.day, DayVolume(key.day))
        day.conversations += c.conversations
        day.messages += c.customer_messages
        day.handoffs += c.handoffs
        day.auto_resolved += c.auto_resolved
        day.csat_sum += c.csat_sum
        day.csat_ratings += c.csat_ratings
    return [days[d] for d in sorted(days)]


def latency_percentiles(
    session: Session, scope: Scope, limit: int = LATENCY_SAMPLE
) -> tuple[float | None, float | None]:
    """p50 and p95 of answer latency (the sum of a reply's per-stage latency_ms).

    Percentiles are not portable SQL, so they are computed here over a bounded sample: the
    most recent `limit` bot replies in range (an indexed, limited query). A channel survey in the
    sample has no latency and is skipped like any reply without one.
    """
    traces = session.exec(
        select(Message.trace)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(*scope.messages(), *scope.message_intent(), col(Message.role) == "bot")
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


def unanswered(session: Session, scope: Scope, limit: int = UNANSWERED) -> list[Unanswered]:
    """The customer questions of the most recent fallback replies in range (newest first)."""
    return insights.fallback_questions(session, scope, limit)

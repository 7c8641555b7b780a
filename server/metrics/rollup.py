"""The daily rollup: additive counts of closed days stored in MetricsDaily, filled lazily.

A day is closed once it ended more than GRACE ago (UTC), so a reply or failure still landing on
the day's last messages is in before the day is frozen. The first request that needs a closed
day computes its rows with server.metrics.counts (the same grouped queries as the live path) and
marks it in MetricsDay. A day's rows are dropped, and recomputed at the next request, when:

- feedback arrives on a conversation of that day (server.metrics.feedback.record calls invalidate),
- a customer's data is deleted or purged (server.privacy calls invalidate_conversations),
- a conversation of that day changed after the day was computed (a late message, a handoff, a
  resolution: Conversation.updated_at, found through an index by stale_days).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server.metrics.counts import FIELDS, Counts, Key, as_date, grouped_counts
from server.tables import Conversation, Message, MetricsDaily, MetricsDay, utcnow

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)


_ANALYZED: set[str] = set()  # SQLite databases whose planner statistics this process has checked


def ensure_statistics(session: Session) -> None:
    """On SQLite, give the planner statistics once per process and database.

    Without them SQLite starts every metrics query from conversation.bot_id and reads all of the bot's
    messages instead of the date range (docs/benchmarks.md). ANALYZE when none exist yet, otherwise
    PRAGMA optimize (cheap: it re-analyzes only tables whose size changed a lot). PostgreSQL keeps its
    own statistics (autovacuum).
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or str(bind.url) in _ANALYZED:
        return
    has_stats = session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first()
    session.execute(text("PRAGMA optimize" if has_stats else "ANALYZE"))
    session.commit()
    _ANALYZED.add(str(bind.url))


def start_of(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time.min, UTC)


def first_open_day(now: datetime | None = None) -> date:
    """The oldest day that is not closed yet: days before it come from the rollup."""
    now = now or datetime.now(UTC)
    return (now - GRACE).date()


def load(session: Session, bot_id: str, start: date, end: date, now: datetime | None = None) -> dict[Key, Counts]:
    """Counts per group of bot_id over the days start..end: closed days from the rollup, the rest live.

    Computes missing or stale closed days first (and commits them).
    """
    open_day = first_open_day(now)
    closed_end = min(end, open_day - timedelta(days=1))
    out: dict[Key, Counts] = {}
    if start <= closed_end:
        ensure(session, bot_id, start, closed_end)
        table = MetricsDaily.__table__  # type: ignore[attr-defined]  # plain rows, not ORM objects: thousands of them per view
        columns = [table.c.day, table.c.channel, table.c.intent, *(table.c[name] for name in FIELDS)]
        rows = session.execute(
            select(*columns).where(table.c.bot_id == bot_id, table.c.day >= start, table.c.day <= closed_end)
        )
        for day, channel, intent, *values in rows:
            out[Key(as_date(day), channel, intent)] = Counts(*values)
    live_start = max(start, open_day)
    if live_start <= end:
        out.update(grouped_counts(session, bot_id, start_of(live_start), start_of(end + timedelta(days=1))))
    return out


def ensure(session: Session, bot_id: str, start: date, end: date) -> list[date]:
    """Compute the closed days start..end that are missing or stale; the days computed."""
    marks = dict(
        session.exec(
            select(MetricsDay.day, MetricsDay.computed_at).where(
                col(MetricsDay.bot_id) == bot_id, col(MetricsDay.day) >= start, col(MetricsDay.day) <= end
            )
        ).all()
    )
    stale = stale_days(session, bot_id, start, end, marks)
    if stale:
        invalidate(session, bot_id, stale)
    todo = sorted({start + timedelta(days=i) for i in range((end - start).days + 1)} - (marks.keys() - stale))
    for first, last in _runs(todo):
        computed_at = utcnow()
        groups = grouped_counts(session, bot_id, start_of(first), start_of(last + timedelta(days=1)))
        session.add_all(
            MetricsDaily(bot_id=bot_id, day=key.day, channel=key.channel, intent=key.intent, **vars(counts))
            for key, counts in groups.items()
        )
        session.add_all(
            MetricsDay(bot_id=bot_id, day=first + timedelta(days=i), computed_at=computed_at)
            for i in range((last - first).days + 1)
        )
        try:
            session.commit()
        except IntegrityError:  # another request computed the same days first: theirs are as good
            session.rollback()
            log.info("metrics rollup of %s %s..%s was computed concurrently", bot_id, first, last)
    return todo


def stale_days(session: Session, bot_id: str, start: date, end: date, marks: dict[date, datetime]) -> set[date]:
    """Computed days with a conversation started on them that changed after they were computed."""
    if not marks:
        return set()
    oldest = min(_aware(at) for at in marks.values())
    day = func.date(Conversation.created_at)
    rows = session.exec(
        select(day, func.max(Conversation.updated_at))
        .where(
            col(Conversation.bot_id) == bot_id,
            col(Conversation.updated_at) > oldest,
            col(Conversation.created_at) >= start_of(start),
            col(Conversation.created_at) < start_of(end + timedelta(days=1)),
        )
        .group_by(day)
    ).all()
    stale = set()
    for value, changed in rows:
        d = as_date(value)
        if d in marks and changed is not None and _aware(changed) > _aware(marks[d]):
            stale.add(d)
    return stale


def invalidate(session: Session, bot_id: str, days: Iterable[date]) -> None:
    """Drop the rollup of these days of bot_id (recomputed at the next request); does not commit."""
    days = sorted(set(days))
    if not days:
        return
    session.execute(delete(MetricsDaily).where(col(MetricsDaily.bot_id) == bot_id, col(MetricsDaily.day).in_(days)))
    session.execute(delete(MetricsDay).where(col(MetricsDay.bot_id) == bot_id, col(MetricsDay.day).in_(days)))


def reset(session: Session, bot_id: str) -> None:
    """Drop the whole rollup of a bot (after a bulk import of past data, which no hook sees); commits."""
    session.execute(delete(MetricsDaily).where(col(MetricsDaily.bot_id) == bot_id))
    session.execute(delete(MetricsDay).where(col(MetricsDay.bot_id) == bot_id))
    session.commit()


def invalidate_conversation(session: Session, conversation: Conversation) -> None:
    """Drop the rollup of the day a conversation started (its conversation figures live there)."""
    invalidate(session, conversation.bot_id, [_aware(conversation.created_at).date()])


def invalidate_conversations(session: Session, conversation_ids: list[str]) -> None:
    """Before deleting conversations: drop the rollup of every day they or their messages touch."""
    if not conversation_ids:
        return
    spans: dict[str, tuple[date, date]] = {}
    for bot_id, created in session.exec(
        select(Conversation.bot_id, Conversation.created_at).where(col(Conversation.id).in_(conversation_ids))
    ).all():
        d = _aware(created).date()
        low, high = spans.get(bot_id, (d, d))
        spans[bot_id] = (min(low, d), max(high, d))
    for bot_id, low_at, high_at in session.exec(
        select(Conversation.bot_id, func.min(Message.created_at), func.max(Message.created_at))
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(col(Message.conversation_id).in_(conversation_ids))
        .group_by(Conversation.bot_id)
    ).all():
        if low_at is None:
            continue
        lo, hi = _as_day(low_at), _as_day(high_at)
        low, high = spans.get(bot_id, (lo, hi))
        spans[bot_id] = (min(low, lo), max(high, hi))
    for bot_id, (low, high) in spans.items():
        invalidate(session, bot_id, [low + timedelta(days=i) for i in range((high - low).days + 1)])


def _as_day(value: object) -> date:
    if isinstance(value, datetime):
        return _aware(value).date()
    return as_date(value)


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back naive UTC datetimes (or strings) for some expressions: make every value aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for d in days:
        if runs and runs[-1][1] + timedelta(days=1) == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs

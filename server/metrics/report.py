"""Turning a metrics request into a scope, and the daily series into CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from server.errors import BadRequest
from server.metrics.queries import DayVolume
from server.metrics.scope import Scope

DEFAULT_DAYS = 30
MAX_DAYS = 366


def make_scope(bot_id: str, start: date | None, end: date | None, channel: str | None) -> Scope:
    """The scope for a request: default the last 30 days up to today (UTC), at most 366 days."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest("start is after end", code="invalid_range")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"a range is at most {MAX_DAYS} days", code="invalid_range")
    return Scope(bot_id=bot_id, start=start, end=end, channel=channel or None)


def daily_csv(daily: list[DayVolume]) -> str:
    """The daily series as CSV: day, conversations, messages."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "conversations", "customer_messages"])
    for row in daily:
        writer.writerow([row.day.isoformat(), row.conversations, row.messages])
    return out.getvalue()

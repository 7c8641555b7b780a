"""Turning a metrics request into a scope, and naming its export files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from server.errors import BadRequest
from server.metrics.scope import Scope

DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_FILTER = 200  # characters of a channel or intent filter


def make_scope(
    bot_id: str, start: date | None, end: date | None, channel: str | None, intent: str | None = None
) -> Scope:
    """The scope for a request: default the last 30 days up to today (UTC), at most 366 days."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest("start is after end", code="invalid_range")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"a range is at most {MAX_DAYS} days", code="invalid_range")
    for name, value in (("channel", channel), ("intent", intent)):
        if value is not None and len(value) > MAX_FILTER:
            raise BadRequest(f"the {name} filter is at most {MAX_FILTER} characters", code="invalid_filter")
    return Scope(bot_id=bot_id, start=start, end=end, channel=channel or None, intent=intent or None)


def export_filename(slug: str, what: str, scope: Scope, extension: str) -> str:
    """A safe attachment name, e.g. shop-series-2026-01-01-2026-01-30-web.csv."""
    parts = [slug, what, scope.start.isoformat(), scope.end.isoformat(), scope.channel or "", scope.intent or ""]
    name = "-".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) + "." + extension

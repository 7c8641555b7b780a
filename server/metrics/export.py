"""Streamed CSV and JSONL exports: the daily metrics series and the conversation log of a scope.

The log is read in keyset-paginated batches in its own database session, and each batch is
written out before the next is read, so exporting a million messages never holds them in memory.
CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a control
character) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from server.metrics.queries import DayVolume
from server.metrics.scope import Scope
from server.tables import Conversation, Message

BATCH = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SERIES_COLUMNS = (
    "day",
    "conversations",
    "customer_messages",
    "handoffs",
    "handoff_rate",
    "auto_resolved",
    "resolution_rate",
    "csat_ratings",
    "csat_average",
)
LOG_COLUMNS = (
    "conversation_id",
    "channel",
    "message_id",
    "created_at",
    "role",
    "text",
    "intent",
    "fallback",
    "status",
    "reply_to",
    "trace",
)


def series_rows(daily: list[DayVolume]) -> Iterator[dict[str, Any]]:
    """One dict per day of the series (rates None when there is no denominator)."""
    for d in daily:
        yield {
            "day": d.day.isoformat(),
            "conversations": d.conversations,
            "customer_messages": d.messages,
            "handoffs": d.handoffs,
            "handoff_rate": _round(d.handoff_rate),
            "auto_resolved": d.auto_resolved,
            "resolution_rate": _round(d.resolution_rate),
            "csat_ratings": d.csat_ratings,
            "csat_average": _round(d.csat_average),
        }


def log_rows(engine: Engine, scope: Scope, batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """The scope's messages (oldest first) with their conversation's channel and the reply trace."""
    after: tuple[datetime, str] | None = None
    with Session(engine) as session:
        while True:
            query = (
                select(Message, Conversation.channel)
                .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                .where(*scope.messages(), *scope.message_intent())
                .order_by(col(Message.created_at), col(Message.id))
                .limit(batch)
            )
            if after is not None:
                at, last_id = after
                query = query.where(
                    or_(col(Message.created_at) > at, (col(Message.created_at) == at) & (col(Message.id) > last_id))
                )
            rows = session.exec(query).all()
            for message, channel in rows:
                yield {
                    "conversation_id": message.conversation_id,
                    "channel": channel,
                    "message_id": message.id,
                    "created_at": message.created_at.isoformat(),
                    "role": message.role,
                    "text": message.text,
                    "intent": message.intent,
                    "fallback": message.fallback,
                    "status": message.status,
                    "reply_to": message.reply_to,
                    "trace": message.trace,
                }
            if len(rows) < batch:
                return
            after = (rows[-1][0].created_at, rows[-1][0].id)
            session.expunge_all()  # nothing of the previous batch stays in the identity map


def csv_lines(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text, a header then one chunk per row; nested values as JSON, formulas neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    yield _take(out)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
        yield _take(out)


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """JSON Lines: one object per row."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, default=str) + "\n"


def csv_cell(value: Any) -> str:
    """One CSV cell: '' for None, JSON for lists and dicts, a quote before formula-like text."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def _take(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

"""The scope of a metrics query (bot, date range, channel, intent) and the filters it implies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col

from server.tables import Conversation, Message


@dataclass(frozen=True)
class Scope:
    """One bot, the days start..end (inclusive, UTC), optionally one channel and one intent.

    The intent filter keeps messages of that intent and conversations whose opening intent (the
    intent of their first customer message) is that intent; see docs/metrics.md.
    """

    bot_id: str
    start: date
    end: date
    channel: str | None = None
    intent: str | None = None

    @property
    def since(self) -> datetime:
        """The first instant in range."""
        return datetime.combine(self.start, time.min, UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the range."""
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)

    def days(self) -> list[date]:
        """Every day in range, oldest first."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def conversations(self) -> list[Any]:
        """WHERE clauses for conversations of this bot (and channel) started in range."""
        return [*self._bot(), col(Conversation.created_at) >= self.since, col(Conversation.created_at) < self.until]

    def messages(self, message: Any = Message) -> list[Any]:
        """WHERE clauses for messages (joined to Conversation) of this bot written in range."""
        return [*self._bot(), col(message.created_at) >= self.since, col(message.created_at) < self.until]

    def message_intent(self, message: Any = Message) -> list[Any]:
        """WHERE clauses keeping messages of the scope's intent (none without an intent filter)."""
        return [] if self.intent is None else [col(message.intent) == self.intent]

    def _bot(self) -> list[Any]:
        clauses: list[Any] = [col(Conversation.bot_id) == self.bot_id]
        if self.channel:
            clauses.append(col(Conversation.channel) == self.channel)
        return clauses

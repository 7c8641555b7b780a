"""Who owns a conversation: the bot, the queue for a person, a person, or nobody (resolved).

The whole state machine is the TRANSITIONS table below; nothing else changes a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bot.errors import BotError
from bot.types import Turn

BOT, QUEUED, AGENT, RESOLVED = "bot", "queued", "agent", "resolved"
STATUSES: Final = (BOT, QUEUED, AGENT, RESOLVED)

HANDOFF = "handoff"  # the bot (a rule or low confidence) asks for a person
TAKE = "take"  # an agent writes in the conversation
RELEASE = "release"  # the agent hands the conversation back to the bot
RESOLVE = "resolve"  # the agent closes the conversation
REOPEN = "reopen"  # the customer writes in a resolved conversation
EVENTS: Final = (HANDOFF, TAKE, RELEASE, RESOLVE, REOPEN)

# (status, event) -> new status. A pair that is not here is refused.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    (BOT, HANDOFF): QUEUED,
    (QUEUED, TAKE): AGENT,
    (AGENT, TAKE): AGENT,  # the agent writes again
    (QUEUED, RELEASE): BOT,
    (AGENT, RELEASE): BOT,
    (QUEUED, RESOLVE): RESOLVED,
    (AGENT, RESOLVE): RESOLVED,
    (RESOLVED, REOPEN): BOT,
}

HELD: Final = frozenset({QUEUED, AGENT})  # statuses in which the bot never replies


class IllegalTransition(BotError):
    """An event that the conversation's current status does not allow."""

    def __init__(self, status: str, event: str) -> None:
        allowed = sorted(e for (s, e) in TRANSITIONS if s == status)
        super().__init__(
            f"cannot {event} a conversation that is {status!r}; allowed from {status!r}: {allowed or 'nothing'}"
        )
        self.status = status
        self.event = event


def next_status(status: str, event: str) -> str:
    """The status after event, or IllegalTransition."""
    if status not in STATUSES:
        raise ValueError(f"unknown conversation status {status!r}; known: {list(STATUSES)}")
    if event not in EVENTS:
        raise ValueError(f"unknown handoff event {event!r}; known: {list(EVENTS)}")
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None


def bot_answers(status: str) -> bool:
    """Whether the bot replies to a customer message in this status."""
    return status not in HELD


def low_confidence_streak(history: Sequence[Turn], current_unanswered: bool) -> int:
    """Consecutive customer turns the bot could not answer, the current one included.

    A turn counts when the bot's reply was its "I don't know" fallback; the count stops at a
    real answer, an agent's message or a reply that already handed off, so a reopened
    conversation does not hand off again on old turns. Intent confidence alone does not count:
    a question outside the trained intents that the knowledge base answers is not a failure.
    """
    if not current_unanswered:
        return 0
    streak = 1
    for turn in reversed(history):
        if turn.role == "agent" or (turn.role == "bot" and (turn.handoff or not turn.fallback)):
            break
        if turn.role == "bot":
            streak += 1
    return streak

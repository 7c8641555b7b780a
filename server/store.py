"""Persistence of conversations and messages: the one place that writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import handoff
from bot.types import BotReply, Turn
from server.errors import Conflict, NotFound
from server.tables import Bot, Conversation, Message, utcnow

BUSY = "busy"  # trace `outcome` of a message refused as busy (server/admission.record_busy)
REFUSED = "refused"  # trace key of a re-sent message: the busy outcome it had before the re-send
RETRIED_AT = "retried_at"  # trace key: when a message refused as busy was re-sent (ISO 8601, UTC)
_BUSY_KEYS = ("error", "outcome", "busy_source", "retry_after")  # what record_busy writes


def get_bot(session: Session, slug: str) -> Bot:
    """The bot with this slug, or NotFound."""
    bot = session.exec(select(Bot).where(Bot.slug == slug)).first()
    if bot is None:
        raise NotFound(f"no bot named {slug!r}", code="unknown_bot")
    return bot


def get_conversation(session: Session, bot: Bot, conversation_id: str) -> Conversation:
    """A conversation of this bot, or NotFound."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.bot_id != bot.id:
        raise NotFound(f"no conversation {conversation_id!r} for bot {bot.slug!r}", code="unknown_conversation")
    return conversation


def start_conversation(
    session: Session, bot: Bot, channel: str, external_user_id: str | None = None, locale: str | None = None
) -> Conversation:
    """Create a conversation."""
    conversation = Conversation(bot_id=bot.id, channel=channel, external_user_id=external_user_id, locale=locale)
    session.add(conversation)
    session.commit()
    return conversation


@dataclass
class Received:
    """A stored customer message, and its stored reply when this was a redelivery.

    `retried`: a redelivery of a message refused as busy, now `received` again: run its turn.
    """

    message: Message
    reply: Message | None
    duplicate: bool
    retried: bool = False


def receive(session: Session, conversation: Conversation, text: str, client_id: str | None) -> Received:
    """Persist a customer message before anything else runs; idempotent per client id."""
    if client_id:
        existing = _by_client_id(session, conversation.id, client_id)
        if existing is not None:
            return _redelivered(session, existing)
    message = Message(conversation_id=conversation.id, role="customer", text=text, client_id=client_id)
    session.add(message)
    session.exec(  # type: ignore[call-overload]
        update(Conversation).where(col(Conversation.id) == conversation.id).values(updated_at=utcnow())
    )
    try:
        session.commit()
    except IntegrityError:  # the same client id raced in on another socket
        session.rollback()
        existing = _by_client_id(session, conversation.id, client_id or "")
        if existing is None:
            raise
        return _redelivered(session, existing)
    return Received(message, None, False)


def _redelivered(session: Session, message: Message) -> Received:
    """A message stored before under the same client id; one refused as busy is taken up again."""
    reply = reply_to(session, message.id)
    retried = reply is None and refused_as_busy(message) and _retry(session, message)
    return Received(message, reply, True, retried)


def refused_as_busy(message: Message) -> bool:
    """The message's last outcome is a busy refusal (not a crash): re-sending it may answer it."""
    trace = message.trace or {}
    return (
        message.status == "failed"
        and trace.get("outcome") == BUSY
        and str(trace.get("error", "")).startswith(f"{BUSY}:")
    )


def _retry(session: Session, message: Message) -> bool:
    """The customer re-sent a message refused as busy: it is `received` again, waiting for this turn.

    The refusal stays on the trace under `refused`; `retried_at` restarts the sweeper's clock, so
    a retried turn whose worker dies still gets an outcome, and a running one is not taken as stale.
    The update only applies while the message is still the busy refusal read above (False when
    another socket took it up first). The conversation's updated_at moves too, so a metrics day
    already rolled up with it is recomputed.
    """
    now = utcnow()
    old = dict(message.trace or {})
    refusal = {key: old.pop(key) for key in _BUSY_KEYS if key in old}
    trace: dict[str, Any] = {**old, REFUSED: refusal, RETRIED_AT: iso(now)}
    taken = session.exec(  # type: ignore[call-overload]
        update(Message)
        .where(
            col(Message.id) == message.id,
            col(Message.status) == "failed",
            _trace_text("outcome") == BUSY,
        )
        .values(status="received", trace=trace)
    )
    if taken.rowcount == 1:
        session.exec(  # type: ignore[call-overload]
            update(Conversation).where(col(Conversation.id) == message.conversation_id).values(updated_at=now)
        )
    session.commit()
    session.refresh(message)
    return bool(taken.rowcount == 1)


def _trace_text(key: str) -> Any:
    """SQL: the trace's `key` as text (NULL when absent), on SQLite and PostgreSQL alike."""
    return Message.trace[key].as_string()  # type: ignore[index]


def not_retried_after(cutoff: datetime) -> Any:
    """SQL: the message was never re-sent after a busy refusal, or was re-sent before cutoff."""
    retried = _trace_text(RETRIED_AT)
    return retried.is_(None) | (retried < iso(cutoff))


def iso(moment: datetime) -> str:
    """A timestamp as trace text; one fixed format, so that the text sorts as the time does."""
    return moment.isoformat(timespec="microseconds")


def _by_client_id(session: Session, conversation_id: str, client_id: str) -> Message | None:
    query = select(Message).where(Message.conversation_id == conversation_id, Message.client_id == client_id)
    return session.exec(query).first()


def reply_to(session: Session, message_id: str) -> Message | None:
    """The bot's stored reply to a customer message, if any."""
    return session.exec(select(Message).where(Message.reply_to == message_id)).first()


def record_reply(session: Session, customer: Message, reply: BotReply) -> Message:
    """Store the bot's reply with its trace and mark the customer message answered."""
    message = Message(
        conversation_id=customer.conversation_id,
        role="bot",
        text=reply.text,
        reply_to=customer.id,
        status="sent",
        intent=reply.intent,
        fallback=reply.fallback,
        citations=[c.to_dict() for c in reply.citations],
        trace=reply.trace.to_dict(),
    )
    session.add(message)
    session.exec(  # type: ignore[call-overload]
        update(Message)
        .where(col(Message.id) == customer.id, col(Message.status) == "received")
        .values(status="answered", intent=reply.intent)
    )
    session.commit()
    return message


def record_failure(session: Session, customer: Message, error: str) -> None:
    """Mark a customer message whose turn failed, keeping the reason beside what its trace held
    (a voice message's audio, a channel's address, an earlier busy refusal)."""
    trace = {**trace_of(session, customer.id), "error": error[:500]}
    session.exec(  # type: ignore[call-overload]
        update(Message).where(col(Message.id) == customer.id).values(status="failed", trace=trace)
    )
    session.commit()


def trace_of(session: Session, message_id: str) -> dict[str, Any]:
    """A message's trace as stored now ({} when it has none)."""
    trace = session.exec(select(Message.trace).where(Message.id == message_id)).first()
    return dict(trace or {})


def mark_held(session: Session, customer: Message) -> None:
    """A person holds the conversation: the message waits for them, not for a turn (the sweeper skips it)."""
    session.exec(  # type: ignore[call-overload]
        update(Message).where(col(Message.id) == customer.id, col(Message.status) == "received").values(status="held")
    )
    session.commit()


def history(session: Session, conversation_id: str, limit: int = 200) -> list[Message]:
    """The conversation's messages, oldest first."""
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(col(Message.created_at).desc())
        .limit(limit)
    )
    return list(reversed(session.exec(query).all()))


def turns(messages: list[Message]) -> list[Turn]:
    """Messages as pipeline turns."""
    return [
        Turn(m.role, m.text, m.intent, bool((m.trace or {}).get("handoff")), m.fallback)
        for m in messages
        if m.role in ("customer", "bot", "agent")
    ]


def status_of(session: Session, conversation_id: str) -> str:
    """The conversation's current owner status, read fresh from the database."""
    status = session.exec(select(Conversation.status).where(Conversation.id == conversation_id)).first()
    if status is None:
        raise NotFound(f"no conversation {conversation_id!r}", code="unknown_conversation")
    return status


def transition(session: Session, conversation_id: str, event: str) -> str:
    """Apply a handoff event (bot/handoff.py's table) and persist the new status; Conflict if refused.

    The update only applies if nobody changed the status meanwhile, so two racing agents
    cannot both move the same conversation.
    """
    current = status_of(session, conversation_id)
    try:
        new = handoff.next_status(current, event)
    except handoff.IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from exc
    result = session.exec(  # type: ignore[call-overload]
        update(Conversation)
        .where(col(Conversation.id) == conversation_id, col(Conversation.status) == current)
        .values(status=new, updated_at=utcnow())
    )
    session.commit()
    if result.rowcount != 1:
        raise Conflict(f"conversation {conversation_id!r} changed meanwhile; try again", code="illegal_transition")
    return new


def reopen_if_resolved(session: Session, conversation_id: str) -> str:
    """A customer wrote: a resolved conversation goes back to the bot. Returns the status now."""
    status = status_of(session, conversation_id)
    if status == handoff.RESOLVED:
        try:
            return transition(session, conversation_id, handoff.REOPEN)
        except Conflict:  # an agent acted at the same moment: use what is there now
            return status_of(session, conversation_id)
    return status


def add_agent_message(session: Session, conversation_id: str, text: str) -> Message:
    """Store a human agent's message."""
    message = Message(conversation_id=conversation_id, role="agent", text=text, status="sent")
    session.add(message)
    session.commit()
    return message

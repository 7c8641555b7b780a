"""Persistence of conversations and messages: the one place that writes them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import handoff
from bot.types import BotReply, Turn
from server.errors import Conflict, NotFound
from server.tables import Bot, Conversation, Message, utcnow


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
    """A stored customer message, and its stored reply when this was a redelivery."""

    message: Message
    reply: Message | None
    duplicate: bool


def receive(session: Session, conversation: Conversation, text: str, client_id: str | None) -> Received:
    """Persist a customer message before anything else runs; idempotent per client id."""
    if client_id:
        existing = _by_client_id(session, conversation.id, client_id)
        if existing is not None:
            return Received(existing, reply_to(session, existing.id), True)
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
        return Received(existing, reply_to(session, existing.id), True)
    return Received(message, None, False)


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
    """Mark a customer message whose turn failed, keeping the reason."""
    session.exec(  # type: ignore[call-overload]
        update(Message).where(col(Message.id) == customer.id).values(status="failed", trace={"error": error[:500]})
    )
    session.commit()


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

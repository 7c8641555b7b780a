"""Customers' data: export and delete one customer's data on request, retention windows, redaction.

A customer is named by the id their channel gives them (`Conversation.external_user_id`: a
Telegram chat, a WhatsApp number, the id a website passes to the widget) or, for an anonymous web
visitor, by a conversation id.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from bot.pii import redact
from server import voice_store
from server.errors import NotFound
from server.metrics import rollup
from server.store import get_bot
from server.tables import Bot, ChannelDelivery, Conversation, Feedback, IntentExample, Message, Tenant, utcnow

log = logging.getLogger(__name__)


@dataclass
class Deleted:
    """How many rows one deletion removed."""

    conversations: int = 0
    messages: int = 0
    feedback: int = 0


def _customer_conversations(session: Session, bot: Bot, customer: str) -> list[Conversation]:
    query = select(Conversation).where(
        Conversation.bot_id == bot.id,
        or_(col(Conversation.external_user_id) == customer, col(Conversation.id) == customer),
    )
    return list(session.exec(query.order_by(col(Conversation.created_at))).all())


def export_customer(engine: Engine, bot_slug: str, customer: str) -> dict[str, Any]:
    """Everything stored about one customer of a bot, as one JSON-ready object.

    Raises:
        NotFound: the bot has no conversation with that customer.
    """
    with Session(engine) as session:
        bot = get_bot(session, bot_slug)
        conversations = _customer_conversations(session, bot, customer)
        if not conversations:
            raise NotFound(f"bot {bot_slug!r} has no data for customer {customer!r}", code="unknown_customer")
        out = []
        for conversation in conversations:
            messages = session.exec(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(col(Message.created_at))
            ).all()
            feedback = session.exec(select(Feedback).where(Feedback.conversation_id == conversation.id)).all()
            out.append(
                {
                    "id": conversation.id,
                    "channel": conversation.channel,
                    "customer": conversation.external_user_id,
                    "status": conversation.status,
                    "locale": conversation.locale,
                    "attributes": conversation.attributes,
                    "created_at": conversation.created_at.isoformat(),
                    "messages": [
                        {"id": m.id, "role": m.role, "text": m.text, "created_at": m.created_at.isoformat()}
                        for m in messages
                    ],
                    "feedback": [
                        {"kind": f.kind, "score": f.score, "comment": f.comment, "message_id": f.message_id}
                        for f in feedback
                    ],
                }
            )
        return {"bot": bot_slug, "customer": customer, "exported_at": utcnow().isoformat(), "conversations": out}


def delete_customer(engine: Engine, bot_slug: str, customer: str, data_dir: Path | None = None) -> Deleted:
    """Delete every conversation of one customer with a bot, with its messages, feedback and (given the
    data folder) the voice recordings.

    Raises:
        NotFound: the bot has no conversation with that customer.
    """
    with Session(engine) as session:
        bot = get_bot(session, bot_slug)
        ids = [c.id for c in _customer_conversations(session, bot, customer)]
        if not ids:
            raise NotFound(f"bot {bot_slug!r} has no data for customer {customer!r}", code="unknown_customer")
        deleted = _delete_conversations(session, ids)
        session.commit()
    _delete_recordings(engine, data_dir)
    log.info("deleted the data of one customer of bot %s: %s", bot_slug, asdict(deleted))
    return deleted


def purge_expired(engine: Engine, data_dir: Path | None = None) -> Deleted:
    """Delete conversations older than their tenant's retention window (by last activity), and, given the
    data folder, their voice recordings."""
    total = Deleted()
    with Session(engine) as session:
        tenants = session.exec(select(Tenant).where(col(Tenant.retention_days).is_not(None))).all()
        for tenant in tenants:
            cutoff = utcnow() - timedelta(days=tenant.retention_days or 0)
            ids = list(
                session.exec(
                    select(Conversation.id)
                    .join(Bot, col(Bot.id) == Conversation.bot_id)
                    .where(Bot.tenant_id == tenant.id, col(Conversation.updated_at) < cutoff)
                ).all()
            )
            if ids:
                done = _delete_conversations(session, ids)
                total.conversations += done.conversations
                total.messages += done.messages
                total.feedback += done.feedback
        session.commit()
    if total.conversations:
        _delete_recordings(engine, data_dir)
    return total


def _delete_recordings(engine: Engine, data_dir: Path | None) -> None:
    """Voice recordings are personal data too: remove those whose conversation is gone."""
    if data_dir is not None:
        voice_store.purge_orphans(engine, data_dir)


def _delete_conversations(session: Session, ids: list[str]) -> Deleted:
    rollup.invalidate_conversations(session, ids)  # the metrics of the days they touched are recomputed
    message_ids = select(Message.id).where(col(Message.conversation_id).in_(ids))
    # examples an admin labelled from these messages hold the customer's words too
    session.exec(delete(IntentExample).where(col(IntentExample.message_id).in_(message_ids)))  # type: ignore[call-overload]
    session.exec(delete(ChannelDelivery).where(col(ChannelDelivery.message_id).in_(message_ids)))  # type: ignore[call-overload]
    feedback = session.exec(delete(Feedback).where(col(Feedback.conversation_id).in_(ids)))  # type: ignore[call-overload]
    messages = session.exec(delete(Message).where(col(Message.conversation_id).in_(ids)))  # type: ignore[call-overload]
    conversations = session.exec(delete(Conversation).where(col(Conversation.id).in_(ids)))  # type: ignore[call-overload]
    return Deleted(conversations.rowcount, messages.rowcount, feedback.rowcount)


def text_to_store(session: Session, bot: Bot, text: str) -> str:
    """The customer's text as it may be stored: redacted unless the tenant keeps original text."""
    tenant = session.get(Tenant, bot.tenant_id)
    if tenant is not None and not tenant.keep_original_text:
        return redact(text)
    return text


class RedactPii(logging.Filter):
    """A log filter that redacts personal data from every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted rendering; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_redaction() -> None:
    """Attach RedactPii to the root logger's handlers (once), so no handler writes personal data."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactPii) for f in handler.filters):
            handler.addFilter(RedactPii())


async def retention_loop(engine: Engine, interval_s: float = 3600.0, data_dir: Path | None = None) -> None:
    """Purge expired conversations now and then every interval, until cancelled."""
    from starlette.concurrency import run_in_threadpool

    while True:
        try:
            done = await run_in_threadpool(purge_expired, engine, data_dir)
            if done.conversations:
                log.info("retention: deleted %s", asdict(done))
        except Exception:  # a failed purge is retried next round; it must not stop the server
            log.exception("retention purge failed")
        await asyncio.sleep(interval_s)

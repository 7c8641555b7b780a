"""A channel's health for the console: inbound traffic and the log of its reply deliveries.

Deliveries come from the `channeldelivery` table (one row per bot reply sent on the channel:
sent or failed, attempts, the error). Inbound traffic is counted from the customer messages of
the bot's conversations on the channel's platform: conversations record the platform (kind), not
the channel, so two channels of one kind on one bot share these figures (`shared_inbound`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from server.tables import ChannelConfig, ChannelDelivery, Conversation, Message

RECENT = 20
EXCERPT = 120


@dataclass(frozen=True)
class Delivery:
    """One reply's delivery on a channel, as the error log shows it."""

    reply_id: str
    conversation_id: str
    status: str  # sending | sent | failed
    attempts: int
    error: str | None
    updated_at: datetime
    reply_at: datetime
    excerpt: str


@dataclass
class ChannelStatus:
    """Inbound traffic, the last send and failure, and the most recent deliveries of one channel."""

    inbound_count: int = 0
    last_inbound: datetime | None = None
    shared_inbound: bool = False
    sent_count: int = 0
    failed_count: int = 0
    last_sent: datetime | None = None
    last_failure: Delivery | None = None
    recent: list[Delivery] = field(default_factory=list)


def _delivery(row: ChannelDelivery, reply: Message) -> Delivery:
    text = " ".join(reply.text.split())
    excerpt = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
    return Delivery(
        row.message_id, reply.conversation_id, row.status, row.attempts, row.error, row.updated_at,
        reply.created_at, excerpt,
    )


def deliveries(session: Session, channel_id: str, limit: int = RECENT, status: str | None = None) -> list[Delivery]:
    """A channel's latest deliveries, newest first (only those with `status` when given)."""
    query = (
        select(ChannelDelivery, Message)
        .join(Message, col(Message.id) == col(ChannelDelivery.message_id))
        .where(ChannelDelivery.channel_id == channel_id)
    )
    if status is not None:
        query = query.where(ChannelDelivery.status == status)
    rows = session.exec(query.order_by(col(ChannelDelivery.updated_at).desc()).limit(limit)).all()
    return [_delivery(row, reply) for row, reply in rows]


def _counts(session: Session, channel_id: str) -> dict[str, tuple[int, datetime | None]]:
    query = (
        select(ChannelDelivery.status, func.count(), func.max(ChannelDelivery.updated_at))
        .where(ChannelDelivery.channel_id == channel_id)
        .group_by(ChannelDelivery.status)
    )
    return {status: (count, latest) for status, count, latest in session.exec(query).all()}


def inbound(session: Session, bot_id: str, kind: str) -> tuple[int, datetime | None]:
    """How many customer messages the bot received on this platform, and when the last one came."""
    query = (
        select(func.count(), func.max(Message.created_at))
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(Conversation.bot_id == bot_id, Conversation.channel == kind, Message.role == "customer")
    )
    count, latest = session.exec(query).one()
    return int(count or 0), latest


def channel_status(session: Session, row: ChannelConfig) -> ChannelStatus:
    """The console's status panel of one stored channel."""
    counts = _counts(session, row.id)
    same_kind = select(func.count()).where(ChannelConfig.bot_id == row.bot_id, ChannelConfig.kind == row.kind)
    inbound_count, last_inbound = inbound(session, row.bot_id, row.kind)
    failures = deliveries(session, row.id, limit=1, status="failed")
    return ChannelStatus(
        inbound_count=inbound_count,
        last_inbound=last_inbound,
        shared_inbound=session.exec(same_kind).one() > 1,
        sent_count=counts.get("sent", (0, None))[0],
        failed_count=counts.get("failed", (0, None))[0],
        last_sent=counts.get("sent", (0, None))[1],
        last_failure=failures[0] if failures else None,
        recent=deliveries(session, row.id),
    )

"""The agent inbox: conversations waiting for a person or held by one, their transcripts, and a reply box.

The page is server-rendered and readable without JavaScript. With it, the page polls two small
JSON endpoints every 3 seconds (the queue, and new messages of the open conversation) and sends
the presence heartbeat (POST /api/v1/agents/heartbeat) every 20 seconds. Replying, handing back
and resolving go through the agent API (server/api/handoff.py) with the session's CSRF token;
replying to a queued conversation takes it (there is no separate "take"). Viewers read only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from admin.auth import CurrentUser
from admin.routes import render
from bot.handoff import AGENT, QUEUED
from server.api.deps import SessionDep
from server.api.handoff import tenant_conversation
from server.api.schemas import MessagePublic
from server.tables import Bot, Conversation, Message, User, utcnow

router = APIRouter(prefix="/admin", include_in_schema=False)
POLL_SECONDS = 3
HEARTBEAT_SECONDS = 20
MAX_LISTED = 200
ANSWERING = ("owner", "admin", "agent")


class InboxItem(BaseModel):
    """One conversation in the inbox list."""

    id: str
    bot: str
    bot_name: str
    channel: str
    status: str
    customer: str | None
    last_customer_text: str | None
    waiting_seconds: int | None  # since the customer's last message, while no agent wrote after it
    updated_at: datetime


class QueueOut(BaseModel):
    """The inbox list (what the page polls)."""

    conversations: list[InboxItem]
    queued: int


class UpdatesOut(BaseModel):
    """The open conversation's status and its messages after the one the page has last."""

    conversation_id: str
    status: str
    messages: list[MessagePublic]


@dataclass
class _Last:
    customer_text: str | None = None
    customer_at: datetime | None = None
    agent_at: datetime | None = None


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _last_messages(session: Session, ids: list[str]) -> dict[str, _Last]:
    """Per conversation: the last customer message (text, time) and the last agent message time."""
    found: dict[str, _Last] = {i: _Last() for i in ids}
    if not ids:
        return found
    latest = (
        select(Message.conversation_id, Message.role, func.max(Message.created_at).label("at"))
        .where(col(Message.conversation_id).in_(ids), col(Message.role).in_(("customer", "agent")))
        .group_by(col(Message.conversation_id), col(Message.role))
        .subquery()
    )
    rows = session.exec(
        select(Message.conversation_id, Message.role, Message.text, Message.created_at).join(
            latest,
            (col(Message.conversation_id) == latest.c.conversation_id)
            & (col(Message.role) == latest.c.role)
            & (col(Message.created_at) == latest.c.at),
        )
    ).all()
    for conversation_id, role, text, at in rows:
        last = found[conversation_id]
        if role == "customer":
            last.customer_text, last.customer_at = text, _aware(at)
        else:
            last.agent_at = _aware(at)
    return found


def inbox_items(session: Session, user: User, now: datetime | None = None) -> list[InboxItem]:
    """The tenant's queued and agent-held conversations, most recently active first."""
    rows = session.exec(
        select(Conversation, Bot)
        .join(Bot, col(Bot.id) == col(Conversation.bot_id))
        .where(col(Bot.tenant_id) == user.tenant_id, col(Conversation.status).in_((QUEUED, AGENT)))
        .order_by(col(Conversation.updated_at).desc())
        .limit(MAX_LISTED)
    ).all()
    last = _last_messages(session, [c.id for c, _ in rows])
    moment = now or utcnow()
    items = []
    for conversation, bot in rows:
        mine = last[conversation.id]
        waiting = None
        if mine.customer_at and (mine.agent_at is None or mine.agent_at < mine.customer_at):
            waiting = max(0, int((moment - mine.customer_at).total_seconds()))
        items.append(InboxItem(
            id=conversation.id, bot=bot.slug, bot_name=bot.name, channel=conversation.channel,
            status=conversation.status, customer=conversation.external_user_id,
            last_customer_text=mine.customer_text, waiting_seconds=waiting,
            updated_at=_aware(conversation.updated_at),
        ))
    return items


def queue_out(session: Session, user: User) -> QueueOut:
    """The list with its count of conversations nobody has taken yet."""
    items = inbox_items(session, user)
    return QueueOut(conversations=items, queued=sum(1 for i in items if i.status == QUEUED))


def transcript(session: Session, conversation: Conversation, after: str | None = None) -> list[Message]:
    """The conversation's messages, oldest first; with `after`, those from that message's time on (not it)."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if after:
        anchor = session.get(Message, after)
        if anchor is not None and anchor.conversation_id == conversation.id:
            query = query.where(col(Message.created_at) >= anchor.created_at, col(Message.id) != anchor.id)
    return list(session.exec(query.order_by(col(Message.created_at))).all())


def inbox_page(request: Request, user: User, session: Session, conversation: Conversation | None) -> HTMLResponse:
    """The inbox: the list, and the open conversation's transcript and reply box."""
    bot = session.get(Bot, conversation.bot_id) if conversation else None
    response = render(
        request, "inbox.html", user=user, queue=queue_out(session, user), open=conversation, open_bot=bot,
        messages=transcript(session, conversation) if conversation else [],
        can_answer=user.role in ANSWERING, poll_ms=POLL_SECONDS * 1000, heartbeat_ms=HEARTBEAT_SECONDS * 1000,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Conversations waiting for a person or held by one."""
    return inbox_page(request, user, session, None)


@router.get("/inbox/queue")
def inbox_queue(user: CurrentUser, session: SessionDep) -> QueueOut:
    """The inbox list as JSON (the page polls it)."""
    return queue_out(session, user)


@router.get("/inbox/{conversation_id}", response_class=HTMLResponse)
def inbox_conversation(conversation_id: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The inbox with one conversation open."""
    return inbox_page(request, user, session, tenant_conversation(session, user, conversation_id))


@router.get("/inbox/{conversation_id}/updates")
def inbox_updates(
    conversation_id: str, user: CurrentUser, session: SessionDep, after: str | None = None
) -> UpdatesOut:
    """The conversation's status and its messages after `after` (a message id), as JSON."""
    conversation = tenant_conversation(session, user, conversation_id)
    messages = [MessagePublic.of(m) for m in transcript(session, conversation, after)]
    return UpdatesOut(conversation_id=conversation.id, status=conversation.status, messages=messages)

"""Console pages; every one requires a signed-in user and shows only that user's tenant."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import col, select

from admin.auth import CurrentUser
from server import store
from server.api.deps import SessionDep
from server.errors import NotFound
from server.tables import Bot, Conversation, Document, Message

router = APIRouter(prefix="/admin", include_in_schema=False)


def render(request: Request, name: str, **context: object) -> HTMLResponse:
    """Render a console template (autoescaped)."""
    return request.app.state.templates.TemplateResponse(request, name, context)


def tenant_bot(session, user, slug: str) -> Bot:  # type: ignore[no-untyped-def]
    """A bot of the user's tenant, or 404 (other tenants' bots do not exist for them)."""
    bot = store.get_bot(session, slug)
    if bot.tenant_id != user.tenant_id:
        raise NotFound(f"no bot named {slug!r}", code="unknown_bot")
    return bot


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """Bots of the tenant with their conversation and document counts."""
    bots = session.exec(select(Bot).where(Bot.tenant_id == user.tenant_id).order_by(Bot.slug)).all()
    rows = []
    for bot in bots:
        conversations = session.exec(select(func.count()).where(Conversation.bot_id == bot.id)).one()
        documents = session.exec(select(func.count()).where(Document.bot_id == bot.id)).one()
        rows.append({"bot": bot, "conversations": conversations, "documents": documents})
    return render(request, "home.html", user=user, rows=rows)


@router.get("/bots/{slug}/conversations", response_class=HTMLResponse)
def conversations(slug: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The bot's latest conversations."""
    bot = tenant_bot(session, user, slug)
    items = session.exec(
        select(Conversation).where(Conversation.bot_id == bot.id).order_by(col(Conversation.updated_at).desc()).limit(200)
    ).all()
    return render(request, "conversations.html", user=user, bot=bot, conversations=items)


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def transcript(conversation_id: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """A full transcript with each reply's trace."""
    conversation = session.get(Conversation, conversation_id)
    bot = session.get(Bot, conversation.bot_id) if conversation else None
    if conversation is None or bot is None or bot.tenant_id != user.tenant_id:
        raise NotFound("no such conversation", code="unknown_conversation")
    messages = session.exec(
        select(Message).where(Message.conversation_id == conversation.id).order_by(col(Message.created_at))
    ).all()
    return render(request, "transcript.html", user=user, bot=bot, conversation=conversation, messages=messages)


@router.get("/bots/{slug}/knowledge", response_class=HTMLResponse)
def knowledge(slug: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The bot's documents."""
    bot = tenant_bot(session, user, slug)
    documents = session.exec(select(Document).where(Document.bot_id == bot.id).order_by(Document.title)).all()
    return render(request, "knowledge.html", user=user, bot=bot, documents=documents)

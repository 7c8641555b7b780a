"""REST chat for clients that don't speak websockets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import col, select

from admin.auth import CurrentUser
from server import store, widget
from server.api.deps import ChatDep, SessionDep
from server.api.schemas import BotPublic, MessageIn, MessagePublic, ReplyOut, TurnOut
from server.errors import NotFound
from server.tables import Bot, Conversation

router = APIRouter(prefix="/api/v1", tags=["chat"])


@router.get("/bots")
def list_bots(session: SessionDep, user: CurrentUser) -> list[BotPublic]:
    """List the bots of the caller's tenant (sign-in or API key required; the widget needs none of this)."""
    query = select(Bot).where(Bot.tenant_id == user.tenant_id).order_by(col(Bot.slug))
    return [BotPublic.of(b) for b in session.exec(query).all()]


@router.post("/bots/{bot_slug}/messages")
async def post_message(
    bot_slug: str, body: MessageIn, session: SessionDep, chat: ChatDep, request: Request
) -> TurnOut:
    """Send a customer message and get the bot's whole reply (429 over a rate limit, 503 when busy)."""
    bot = store.get_bot(session, bot_slug)
    if body.conversation_id:
        conversation = store.get_conversation(session, bot, body.conversation_id)
    else:
        user_id = widget.verified_user(chat.services.secrets, bot, body.user_id, body.user_hash)
        conversation = store.start_conversation(session, bot, "api", user_id)
    session.commit()  # end the read transaction: no pooled connection held idle through the turn
    await request.app.state.limiter.check("conversation", conversation.id)
    outcome = await chat.turn(bot, conversation, body.text, body.client_message_id)
    reply = outcome.reply
    return TurnOut(
        conversation_id=conversation.id,
        message_id=outcome.customer.id,
        reply=None if reply is None else ReplyOut(
            message_id=reply.id, text=reply.text, citations=reply.citations,
            intent=reply.intent, fallback=reply.fallback,
            quick_replies=(reply.trace or {}).get("quick_replies") or [],
        ),
        status=outcome.status,
        trace=None if reply is None else reply.trace,
    )


@router.get("/conversations/{conversation_id}/messages")
def conversation_messages(conversation_id: str, session: SessionDep) -> list[MessagePublic]:
    """The stored turns of a conversation."""
    if session.get(Conversation, conversation_id) is None:
        raise NotFound(f"no conversation {conversation_id!r}", code="unknown_conversation")
    return [MessagePublic.of(m) for m in store.history(session, conversation_id)]

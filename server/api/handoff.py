"""Agent side of human handoff: write to a customer, hand back to the bot, resolve.

A console session (with its CSRF token) or an API key is required (admin/auth.py), and only
conversations of the caller's tenant exist for them; viewers may read, not answer.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks
from sqlmodel import Session

from admin.auth import CurrentUser, require_editor
from bot import handoff
from server import store
from server.api.channels import ChannelsDep
from server.api.deps import HubDep, SessionDep
from server.api.schemas import AgentMessageIn, ConversationStatusOut, MessagePublic
from server.channels.service import ChannelService
from server.errors import BadRequest, NotFound
from server.hub import Hub
from server.tables import Bot, Conversation, User

router = APIRouter(prefix="/api/v1/conversations", tags=["handoff"])


def tenant_conversation(session: Session, user: User, conversation_id: str) -> Conversation:
    """A conversation of one of the user's tenant's bots, or 404 (others do not exist for them)."""
    conversation = session.get(Conversation, conversation_id)
    bot = session.get(Bot, conversation.bot_id) if conversation else None
    if conversation is None or bot is None or bot.tenant_id != user.tenant_id:
        raise NotFound(f"no conversation {conversation_id!r}", code="unknown_conversation")
    return conversation


@router.post("/{conversation_id}/agent-messages")
def agent_message(
    conversation_id: str, body: AgentMessageIn, user: CurrentUser, session: SessionDep, hub: HubDep
) -> ConversationStatusOut:
    """Write to the customer as a person; a queued conversation becomes the agent's."""
    tenant_conversation(session, user, conversation_id)
    require_editor(user, "answer customers")
    text = body.text.strip()
    if not text:
        raise BadRequest("text must not be blank")
    status = store.transition(session, conversation_id, handoff.TAKE)
    message = store.add_agent_message(session, conversation_id, text)
    hub.publish(conversation_id, {"type": "agent_message", "message_id": message.id, "text": message.text})
    return ConversationStatusOut(conversation_id=conversation_id, status=status, message=MessagePublic.of(message))


@router.post("/{conversation_id}/release")
def release(conversation_id: str, user: CurrentUser, session: SessionDep) -> ConversationStatusOut:
    """Hand the conversation back to the bot."""
    tenant_conversation(session, user, conversation_id)
    require_editor(user, "hand conversations back")
    status = store.transition(session, conversation_id, handoff.RELEASE)
    return ConversationStatusOut(conversation_id=conversation_id, status=status)


def resolve_conversation(
    session: Session, hub: Hub, channels: ChannelService | None, background: BackgroundTasks, conversation_id: str
) -> str:
    """Resolve a conversation and ask for a rating: the widget on the live event, a messaging
    channel with a survey message sent after the response (server/channels/survey.py).

    The one resolve action: the agent API below, and the console inbox, which calls it.
    """
    status = store.transition(session, conversation_id, handoff.RESOLVE)
    hub.publish(conversation_id, {"type": "status", "status": status})  # the widget asks for a rating
    if channels is not None:
        background.add_task(channels.send_survey, conversation_id)
    return status


@router.post("/{conversation_id}/resolve")
def resolve(
    conversation_id: str,
    user: CurrentUser,
    session: SessionDep,
    hub: HubDep,
    background: BackgroundTasks,
    channels: ChannelsDep,
) -> ConversationStatusOut:
    """Close the conversation; it reopens with the bot when the customer writes again."""
    tenant_conversation(session, user, conversation_id)
    require_editor(user, "resolve conversations")
    status = resolve_conversation(session, hub, channels, background, conversation_id)
    return ConversationStatusOut(conversation_id=conversation_id, status=status)

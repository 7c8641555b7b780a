"""Public schemas of the API and the chat protocol (never table objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from server.tables import Bot, Message


class MessagePublic(BaseModel):
    """A stored message as clients see it."""

    id: str
    role: str
    text: str
    citations: list[dict[str, Any]] = []
    intent: str | None = None
    fallback: bool = False
    client_id: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, m: Message) -> MessagePublic:
        """From a table row."""
        return cls(
            id=m.id, role=m.role, text=m.text, citations=m.citations or [], intent=m.intent,
            fallback=m.fallback, client_id=m.client_id, created_at=m.created_at,
        )


class BotPublic(BaseModel):
    """A bot as clients see it."""

    slug: str
    name: str
    greeting: str

    @classmethod
    def of(cls, bot: Bot) -> BotPublic:
        """From a table row."""
        return cls(slug=bot.slug, name=bot.name, greeting=bot.greeting)


class MessageIn(BaseModel):
    """POST /api/v1/bots/{bot}/messages."""

    text: str = Field(min_length=1)
    conversation_id: str | None = None
    client_message_id: str | None = Field(default=None, min_length=1, max_length=64)
    user_id: str | None = Field(default=None, max_length=128)
    user_hash: str | None = Field(
        default=None, max_length=128, description="HMAC-SHA256 of user_id with the bot's identity secret (hex)."
    )


class ReplyOut(BaseModel):
    """The bot's answer."""

    message_id: str
    text: str
    citations: list[dict[str, Any]]
    intent: str | None
    fallback: bool
    quick_replies: list[dict[str, str]] = []  # buttons: {"title", "payload"}


class TurnOut(BaseModel):
    """Response of POST /api/v1/bots/{bot}/messages."""

    conversation_id: str
    message_id: str
    reply: ReplyOut | None  # None while a person holds the conversation (status queued or agent)
    status: str = "bot"  # who owns the conversation now: bot | queued | agent | resolved
    trace: dict[str, Any] | None = None


class AgentMessageIn(BaseModel):
    """POST /api/v1/conversations/{id}/agent-messages."""

    text: str = Field(min_length=1, max_length=4000)


class ConversationStatusOut(BaseModel):
    """A conversation's owner after a handoff action."""

    conversation_id: str
    status: str
    message: MessagePublic | None = None


# Websocket frames from the client.
class HelloFrame(BaseModel):
    """Start or resume a conversation."""

    type: Literal["hello"]
    conversation_id: str | None = None
    # a logged-in customer: user_id counts only with user_hash = HMAC-SHA256(identity secret, user_id) hex
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    user_hash: str | None = Field(default=None, max_length=128)
    user_name: str | None = Field(default=None, max_length=200)
    user_email: str | None = Field(default=None, max_length=320)
    locale: str | None = Field(default=None, max_length=35)


class MessageFrame(BaseModel):
    """A customer message."""

    type: Literal["message"]
    id: str = Field(min_length=1, max_length=64)
    text: str


class PingFrame(BaseModel):
    """Keep-alive."""

    type: Literal["ping"]


class FeedbackFrame(BaseModel):
    """A thumb on a bot reply (score ±1, message_id) or a CSAT rating of the conversation (1-5)."""

    type: Literal["feedback"]
    kind: Literal["thumb", "csat"]
    score: int
    message_id: str | None = Field(default=None, min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class EventFrame(BaseModel):
    """Frontdesk.track(name, data): stored on the conversation's attributes under "events"."""

    type: Literal["event"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    data: dict[str, Any] = Field(default_factory=dict)


class LocaleFrame(BaseModel):
    """Frontdesk.setLocale(locale): the conversation's locale from now on."""

    type: Literal["locale"]
    locale: str = Field(min_length=2, max_length=35, pattern=r"^[A-Za-z0-9-]+$")


ClientFrame = Annotated[
    HelloFrame | MessageFrame | PingFrame | FeedbackFrame | EventFrame | LocaleFrame, Field(discriminator="type")
]
FRAME_TYPES = ("hello", "message", "ping", "feedback", "event", "locale")

"""The database tables (SQLModel). Alembic migrations in server/migrations mirror them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now (stored as UTC)."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A random id with a readable prefix, e.g. 'c_3f2a…' for a conversation."""
    return f"{prefix}_{uuid.uuid4().hex}"


def new_public_key() -> str:
    """A bot's public widget key, e.g. 'pk_3f2a…': it names the bot in the embed snippet, it is no secret."""
    return f"pk_{uuid.uuid4().hex}"


class Tenant(SQLModel, table=True):
    """A business using Frontdesk."""

    id: str = Field(default_factory=lambda: new_id("t"), primary_key=True)
    name: str
    # conversations untouched for this many days are deleted; None keeps them
    retention_days: int | None = None
    # False: customer messages are stored with personal data redacted (the turn still sees the original)
    keep_original_text: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    """A console user of a tenant; the password is stored as an argon2 hash."""

    id: str = Field(default_factory=lambda: new_id("u"), primary_key=True)
    tenant_id: str = Field(foreign_key="tenant.id", index=True)
    email: str = Field(unique=True, index=True)
    password_hash: str
    role: str = "owner"  # owner | admin | agent | viewer
    created_at: datetime = Field(default_factory=utcnow)


class Bot(SQLModel, table=True):
    """A bot with its persona; its knowledge, intents and rules hang off it."""

    id: str = Field(default_factory=lambda: new_id("b"), primary_key=True)
    tenant_id: str = Field(foreign_key="tenant.id", index=True)
    slug: str = Field(unique=True, index=True)
    name: str
    persona: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    greeting: str = ""
    fallback: str = ""
    # the website widget (server/widget.py): its public key, its look and rules, and the identity secret
    public_key: str = Field(default_factory=new_public_key, unique=True, index=True)
    widget: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    # HMAC key for identity verification, sealed by server.secret_box ({"fernet": token}); None: not set up
    identity_secret: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # business hours (bot.hours): timezone, weekly ranges, holidays, offline message; None: always open
    hours: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # HTTP rule actions (server/action_secrets.py): the HMAC signing key and the {{ secrets.NAME }}
    # values, both sealed by server.secret_box ({"fernet": token}); None: not set up yet
    action_signing_secret: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    action_secrets: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class AgentPresence(SQLModel, table=True):
    """When a console user of a tenant last had the inbox open (heartbeat); online if recent."""

    tenant_id: str = Field(foreign_key="tenant.id", primary_key=True)
    user_id: str = Field(foreign_key="user.id", primary_key=True)
    last_seen: datetime = Field(default_factory=utcnow, index=True)


class Conversation(SQLModel, table=True):
    """A conversation between a customer and a bot (or an agent) on one channel."""

    id: str = Field(default_factory=lambda: new_id("c"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    channel: str = "web"
    external_user_id: str | None = Field(default=None, index=True)
    status: str = "bot"  # bot | queued | agent | resolved
    locale: str | None = None
    # customer attributes and tags set by the channel, the widget's identify() or rule actions
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    # slot filling (bot/flows.py): {"slots": {...}, "active": {"rule", "asking", ...} while a flow waits}
    flow: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    """One message; a bot reply carries its trace and citations."""

    __table_args__ = (UniqueConstraint("conversation_id", "client_id", name="uq_message_client_id"),)

    id: str = Field(default_factory=lambda: new_id("msg"), primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    role: str  # customer | bot | agent | system
    text: str = Field(sa_column=Column(Text, nullable=False))
    client_id: str | None = None
    reply_to: str | None = Field(default=None, index=True)
    # customer: received | answered | held (a person holds the conversation: no bot reply) | failed;
    # bot and agent: sent
    status: str = "received"
    intent: str | None = Field(default=None, index=True)
    fallback: bool = False
    citations: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    trace: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Document(SQLModel, table=True):
    """A knowledge-base document of a bot."""

    __table_args__ = (UniqueConstraint("bot_id", "slug", name="uq_document_slug"),)

    id: str = Field(default_factory=lambda: new_id("d"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    slug: str
    title: str
    source: str
    media_type: str
    url: str
    sha256: str
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = "ready"  # queued | processing | ready | failed
    error: str | None = None
    progress: int = 0  # percent of the file read while processing
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Chunk(SQLModel, table=True):
    """A passage of a document; its id is the id in the bot's vector index."""

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    document_id: str = Field(foreign_key="document.id", index=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    position: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    section: str = ""
    anchor: str = ""
    url: str = ""


class Intent(SQLModel, table=True):
    """An intent a bot recognises."""

    __table_args__ = (UniqueConstraint("bot_id", "name", name="uq_intent_name"),)

    id: str = Field(default_factory=lambda: new_id("i"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    name: str
    description: str = ""


class IntentExample(SQLModel, table=True):
    """An example utterance of an intent (the intent named 'oos' holds out-of-scope examples)."""

    id: str = Field(default_factory=lambda: new_id("ie"), primary_key=True)
    intent_id: str = Field(foreign_key="intent.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    source: str = "csv"  # csv | console | conversation
    # the customer message it was labelled from; no foreign key: examples outlive deleted conversations
    message_id: str | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class IntentModel(SQLModel, table=True):
    """One trained version of a bot's intent model; at most one per bot is active."""

    __table_args__ = (UniqueConstraint("bot_id", "version", name="uq_intentmodel_version"),)

    id: str = Field(default_factory=lambda: new_id("im"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    version: int
    status: str = "candidate"  # candidate | active | retired
    method: str = ""
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    examples: int = 0  # in-scope examples trained on
    oos_examples: int = 0
    intents: int = 0
    threshold: float = 0.0  # out-of-scope confidence threshold
    train_seconds: float = 0.0
    # held-out figures: accuracy, macro_f1, n, oos_recall, per_intent, confusion, ... (None: too few examples)
    metrics: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    folder: str  # relative to the data folder
    created_at: datetime = Field(default_factory=utcnow)
    promoted_at: datetime | None = None  # when it last became active (rollback follows this order)


class ReplyRule(SQLModel, table=True):
    """A reply rule of a bot, stored as its JSON definition."""

    __table_args__ = (UniqueConstraint("bot_id", "name", name="uq_rule_name"),)

    id: str = Field(default_factory=lambda: new_id("r"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    name: str
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    priority: int = 100
    enabled: bool = True


class Feedback(SQLModel, table=True):
    """Customer satisfaction: a thumb on one reply or a 1-5 rating of a conversation."""

    id: str = Field(default_factory=lambda: new_id("f"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    conversation_id: str = Field(foreign_key="conversation.id", index=True)
    message_id: str | None = Field(default=None, foreign_key="message.id")
    kind: str  # thumb | csat
    score: int
    comment: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ChannelConfig(SQLModel, table=True):
    """A messaging-platform channel of a bot; its webhook URL is /webhooks/{kind}/{bot}/{id}.

    `config` holds the platform's secrets (bot tokens, signing and app secrets, WeChat token and
    AES key), sealed by server.secret_box: {"fernet": token}. Never log it opened.
    """

    __table_args__ = (UniqueConstraint("bot_id", "name", name="uq_channelconfig_name"),)

    id: str = Field(default_factory=lambda: new_id("ch"), primary_key=True)
    bot_id: str = Field(foreign_key="bot.id", index=True)
    kind: str
    name: str
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class ChannelDelivery(SQLModel, table=True):
    """One bot reply sent on a channel: the unique message id makes a send happen at most once."""

    __table_args__ = (UniqueConstraint("message_id", name="uq_channeldelivery_message"),)

    id: str = Field(default_factory=lambda: new_id("dl"), primary_key=True)
    message_id: str = Field(foreign_key="message.id")
    channel_id: str = Field(foreign_key="channelconfig.id", index=True)
    status: str = "sending"  # sending | sent | failed
    attempts: int = 1
    error: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


# --- console accounts and access (admin/sessions.py, admin/api_keys.py, admin/users.py, admin/audit.py) ---


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: the cookie carries a random id, the table only its SHA-256."""

    id: str = Field(primary_key=True)  # sha256 hex of the cookie value
    user_id: str = Field(foreign_key="user.id", index=True)
    csrf_token: str  # synchronizer token of this session (worthless without the cookie)
    ip: str | None = None
    user_agent: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)  # absolute end; the idle end is last_seen_at + the idle timeout


class ApiKey(SQLModel, table=True):
    """A REST API key of a tenant (`Authorization: Bearer fd_...`); only its SHA-256 is stored."""

    id: str = Field(default_factory=lambda: new_id("key"), primary_key=True)
    tenant_id: str = Field(foreign_key="tenant.id", index=True)
    name: str
    prefix: str  # the first characters of the key, shown to tell keys apart
    key_hash: str = Field(unique=True, index=True)
    role: str  # admin | agent | viewer, never above its creator's
    # who created it; no foreign key: the key row outlives a removed user (it is revoked with them)
    created_by: str
    created_by_email: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Invite(SQLModel, table=True):
    """A single-use, expiring invitation to join a tenant; only the link token's SHA-256 is stored."""

    id: str = Field(default_factory=lambda: new_id("inv"), primary_key=True)
    tenant_id: str = Field(foreign_key="tenant.id", index=True)
    email: str = Field(index=True)
    role: str
    token_hash: str = Field(unique=True, index=True)
    invited_by: str  # user id; no foreign key, the invite outlives a removed inviter
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """One console or API change (or sign-in): who, in which tenant, did what to what, from where."""

    id: str = Field(default_factory=lambda: new_id("ae"), primary_key=True)
    # None for a failed sign-in with an unknown e-mail; no foreign keys: the log outlives users
    tenant_id: str | None = Field(default=None, index=True)
    user_id: str | None = Field(default=None, index=True)
    actor: str = ""  # the user's e-mail, or "api key fd_..." for an API key
    action: str = Field(index=True)  # e.g. login.ok, rule.save, api_key.create
    target: str = ""
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    ip: str | None = None
    at: datetime = Field(default_factory=utcnow, index=True)


# --- console metrics rollup (server/metrics/rollup.py) ---


class MetricsDaily(SQLModel, table=True):
    """Additive metric counts of one bot, UTC day, channel and intent ('' for none), for closed days.

    Conversation figures are keyed by the conversation's start day and opening intent (its first
    customer message's), message figures by the message's day and intent. No foreign key: rows are
    a cache, rebuilt from the raw tables whenever a day is invalidated.
    """

    bot_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    intent: str = Field(primary_key=True)
    conversations: int = 0
    handoffs: int = 0
    auto_resolved: int = 0
    csat_sum: int = 0
    csat_ratings: int = 0
    csat_conversations: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    customer_messages: int = 0
    replied_messages: int = 0
    failed_turns: int = 0
    bot_replies: int = 0
    fallback_replies: int = 0


class MetricsDay(SQLModel, table=True):
    """A bot's closed day whose MetricsDaily rows are computed (no rows at all: a day without activity)."""

    bot_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    computed_at: datetime = Field(default_factory=utcnow)


# conversations of a bot changed since a rollup was computed (late messages, handoffs): a range scan
Index("ix_conversation_bot_updated", Conversation.bot_id, Conversation.updated_at)  # type: ignore[arg-type]

"""The website widget's settings, origin check and identity verification (docs/widget.md).

A bot's widget is named by its public key (`Bot.public_key`, in the embed snippet). Its look and
rules live in `Bot.widget` (JSON, validated by `WidgetSettings`); the identity secret the business's
server signs customer ids with lives sealed in `Bot.identity_secret`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot import handoff
from server import store
from server.errors import BadRequest, FrontdeskError, NotFound
from server.secret_box import SecretBox
from server.tables import Bot, Conversation, utcnow

VOICE_AVAILABLE = True  # server/api/voice.py; it answers 503 voice_off when the server has no speech-to-text
MAX_ORIGINS = 50
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class OriginRefused(FrontdeskError):
    """The page embedding the widget is not on the bot's allowed-origin list."""

    code = "origin_not_allowed"
    status = 403


def normalize_origin(value: str) -> str:
    """'https://Shop.example:443/' -> 'https://shop.example'; BadRequest when it is not an http(s) origin."""
    raw = value.strip().rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise BadRequest(f"{value!r} is not an origin such as https://shop.example", code="bad_origin")
    try:
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"{value!r} has an invalid port", code="bad_origin") from exc
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


class WidgetSettings(BaseModel):
    """What a business sets for its widget in the console; stored as Bot.widget."""

    color: str = "#1e4f5c"
    logo_url: str = ""
    greeting: str = Field(default="", max_length=500)  # empty: the bot's greeting
    position: Literal["right", "left"] = "right"
    launcher_label: str = Field(default="Chat with us", max_length=40)
    allowed_origins: list[str] = Field(default_factory=list, max_length=MAX_ORIGINS)
    csat_on_resolve: bool = True  # ask for a 1-5 rating when an agent resolves the conversation
    csat_on_close: bool = True  # ... and when the customer closes the panel after a bot reply
    channel_csat_on_resolve: bool = False  # messaging channels: send a 1-5 survey when an agent resolves
    channel_thumbs: bool = False  # messaging channels: 👍/👎 buttons under bot replies (Telegram)
    uploads: bool = False
    voice: bool = False
    speak_replies: Literal["never", "when_spoken", "always"] | None = None  # None: FRONTDESK_VOICE__REPLY_AUDIO

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.fullmatch(value.strip()):
            raise ValueError("the colour must be a hex colour such as #1e4f5c")
        return value.strip().lower()

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("the logo must be an http(s) URL")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for value in values:
            try:
                origin = normalize_origin(value)
            except BadRequest as exc:
                raise ValueError(exc.message) from exc
            if origin not in out:
                out.append(origin)
        return out


class WidgetConfigPublic(BaseModel):
    """GET /api/v1/widget/{public_key}/config: what the widget needs, and no secret."""

    bot: dict[str, str]
    color: str
    logo_url: str
    greeting: str
    position: str
    launcher_label: str
    csat_on_resolve: bool
    csat_on_close: bool
    uploads: bool
    voice: bool
    identity: bool  # whether the bot verifies identify() hashes


def settings_of(bot: Bot) -> WidgetSettings:
    """The bot's widget settings (defaults for what is not stored)."""
    return WidgetSettings.model_validate(bot.widget or {})


def parse_settings(values: dict[str, Any]) -> WidgetSettings:
    """Validate settings from the console; BadRequest names the first field that is wrong."""
    try:
        return WidgetSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadRequest(f"{where}: {message}", code="bad_widget_settings") from exc


def public_config(bot: Bot) -> WidgetConfigPublic:
    """The public widget config of a bot."""
    s = settings_of(bot)
    return WidgetConfigPublic(
        bot={"name": bot.name, "public_key": bot.public_key},
        color=s.color, logo_url=s.logo_url, greeting=s.greeting or bot.greeting, position=s.position,
        launcher_label=s.launcher_label, csat_on_resolve=s.csat_on_resolve, csat_on_close=s.csat_on_close,
        uploads=s.uploads, voice=s.voice and VOICE_AVAILABLE, identity=bot.identity_secret is not None,
    )


def bot_by_key(session: Session, public_key: str) -> Bot:
    """The bot a public widget key names, or NotFound (code unknown_bot)."""
    bot = session.exec(select(Bot).where(Bot.public_key == public_key)).first()
    if bot is None:
        raise NotFound("no widget with this key; copy the snippet from the console again", code="unknown_bot")
    return bot


def check_origin(bot: Bot, origin: str | None, host: str | None) -> None:
    """Refuse a page whose Origin is not allowed for this bot's widget (OriginRefused, 403).

    An empty list allows any origin (dev). The server's own pages are always allowed, and so is a
    request without an Origin header: browsers send one on every websocket and cross-origin
    request, so only same-origin pages and non-browser clients omit it. The check keeps other
    websites from embedding the widget in visitors' browsers; it does not authenticate a program,
    which can send any Origin (identity verification is what protects a customer's data).
    """
    allowed = settings_of(bot).allowed_origins
    if not allowed or not origin:
        return
    try:
        normalized = normalize_origin(origin)
    except BadRequest as exc:
        raise OriginRefused(f"origin {origin!r} is not allowed to embed this widget") from exc
    if normalized in allowed or (host and urlsplit(normalized).netloc == host.lower()):
        return
    raise OriginRefused(f"origin {normalized} is not allowed to embed this widget; add it in the console")


def new_identity_secret() -> str:
    """A fresh identity-verification secret (shown once in the console)."""
    return f"ids_{secrets.token_urlsafe(32)}"


def set_identity_secret(session: Session, box: SecretBox, bot: Bot) -> str:
    """Replace the bot's identity secret with a new one, stored sealed; returns it in clear, once."""
    secret = new_identity_secret()
    bot.identity_secret = box.seal({"secret": secret})
    session.add(bot)
    session.commit()
    return secret


def reseal_identity_secrets(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every bot's identity secret with the current key (after a key rotation); the count."""
    with Session(engine) as session:
        bots = session.exec(select(Bot).where(col(Bot.identity_secret).is_not(None))).all()
        for bot in bots:
            bot.identity_secret = box.reseal(bot.identity_secret or {})
            session.add(bot)
        session.commit()
        return len(bots)


def identity_secret(box: SecretBox, bot: Bot) -> str | None:
    """The bot's identity secret in clear, or None when identity verification is not set up."""
    if not bot.identity_secret:
        return None
    secret = box.open(bot.identity_secret).get("secret")
    return secret if isinstance(secret, str) and secret else None


def user_hash(secret: str, user_id: str) -> str:
    """HMAC-SHA256(secret, user_id) in lowercase hex: what the business's server computes."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_identity(secret: str | None, user_id: str, given_hash: str | None) -> bool:
    """Whether given_hash proves the business's server vouched for user_id (constant-time compare)."""
    if not secret or not user_id or not given_hash:
        return False
    return hmac.compare_digest(user_hash(secret, user_id).encode(), given_hash.strip().lower().encode())


# ---- the customer's conversation on the widget --------------------------------------------------
MAX_EVENTS = 50  # distinct track() event names kept per conversation
MAX_EVENT_DATA = 2000  # characters of JSON per event's data


def verified_user(box: SecretBox, bot: Bot, user_id: str | None, given_hash: str | None) -> str | None:
    """The customer id a client claims, once its HMAC proves the business vouched for it; None if none claimed.

    Raises:
        FrontdeskError: identity_invalid (403) when the bot has no identity secret or the hash is wrong.
    """
    if user_id is None:
        return None
    secret = identity_secret(box, bot)
    if secret is None:
        raise FrontdeskError(
            "this bot does not verify customer ids: set up identity verification in the console",
            code="identity_invalid", status=403,
        )
    if not verify_identity(secret, user_id, given_hash):
        raise FrontdeskError("user_hash does not match user_id", code="identity_invalid", status=403)
    return user_id


def open_conversation(
    session: Session, bot: Bot, conversation_id: str | None, user_id: str | None, locale: str | None
) -> Conversation:
    """The conversation a hello resumes or starts.

    Anonymous (user_id None): the stored conversation id, unless it belongs to an identified
    customer (then NotFound: a shared browser must not show a customer's chat after they log out).
    Verified customer: the conversation id if it is theirs, else their latest open conversation on
    any device, else the anonymous conversation they had before identify() (it becomes theirs),
    else a new one.
    """
    given = session.get(Conversation, conversation_id) if conversation_id else None
    if conversation_id and (given is None or given.bot_id != bot.id):
        raise NotFound(f"no conversation {conversation_id!r} for bot {bot.slug!r}", code="unknown_conversation")
    if user_id is None:
        if given is not None and given.external_user_id is not None:
            raise NotFound("this conversation belongs to an identified customer", code="unknown_conversation")
        return given or store.start_conversation(session, bot, "web", None, locale)
    if given is not None and given.external_user_id == user_id:
        return given
    latest = session.exec(
        select(Conversation)
        .where(Conversation.bot_id == bot.id, Conversation.external_user_id == user_id)
        .where(col(Conversation.status) != handoff.RESOLVED)
        .order_by(col(Conversation.updated_at).desc())
    ).first()
    if latest is not None:
        return latest
    if given is not None and given.external_user_id is None:
        given.external_user_id = user_id
        session.add(given)
        session.commit()
        return given
    return store.start_conversation(session, bot, "web", user_id, locale)


def update_conversation(
    session: Session, conversation_id: str, locale: str | None, attributes: dict[str, Any]
) -> Conversation:
    """Set the locale and merge customer attributes (name, email) into the conversation, read fresh."""
    conversation = session.get(Conversation, conversation_id, populate_existing=True)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id!r}", code="unknown_conversation")
    changed = False
    if locale and conversation.locale != locale:
        conversation.locale, changed = locale, True
    merged = {**(conversation.attributes or {}), **{k: v for k, v in attributes.items() if v}}
    if merged != conversation.attributes:
        conversation.attributes, changed = merged, True
    if changed:
        session.add(conversation)
        session.commit()
    return conversation


def record_event(session: Session, conversation_id: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store a track() event as attributes["events"][name] = {count, data, at}; returns that entry.

    Reply rules see it like any attribute. A turn running at the same moment may write the
    attributes it read before the event (last write wins), so an event can rarely be lost.
    """
    if len(json.dumps(data, default=str)) > MAX_EVENT_DATA:
        raise BadRequest(f"event data is larger than {MAX_EVENT_DATA} characters of JSON", code="too_long")
    conversation = session.get(Conversation, conversation_id, populate_existing=True)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id!r}", code="unknown_conversation")
    attributes = dict(conversation.attributes or {})
    events = dict(attributes.get("events") or {})
    if name not in events and len(events) >= MAX_EVENTS:
        raise BadRequest(f"at most {MAX_EVENTS} different event names per conversation", code="too_many_events")
    entry = {"count": int((events.get(name) or {}).get("count", 0)) + 1, "data": data, "at": utcnow().isoformat()}
    events[name] = entry
    attributes["events"] = events
    conversation.attributes = attributes
    session.add(conversation)
    session.commit()
    return entry

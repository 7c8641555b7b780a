"""Change stored channels from the console: the settings form, edits, enable/disable, delete, test sends.

Secrets never leave here opened except into a channel object: a blank secret field in an edit keeps
the stored value, and the settings are sealed again with server/secret_box.py before they are stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col

from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    Progress,
    channel_class,
    create_channel,
)
from server.channels.configs import SHOWN
from server.channels.delivery import SendError
from server.errors import BadRequest, NotFound
from server.secret_box import SecretBox
from server.tables import Bot, ChannelConfig, ChannelDelivery

MAX_NAME = 100
MAX_TEST_TEXT = 1000


@dataclass(frozen=True)
class SettingField:
    """One setting of a channel kind, as the connect and edit forms show it."""

    name: str
    required: bool
    secret: bool  # masked once stored; a blank edit keeps the stored value
    generated: bool  # Frontdesk creates it when left blank
    default: str


@dataclass(frozen=True)
class TestTarget:
    """What a test message needs on a platform: the destination's label and the platform's limits."""

    label: str
    hint: str
    limits: str


TEST_TARGETS: dict[str, TestTarget] = {
    "telegram": TestTarget(
        "Chat id", "the numeric chat id (a private chat's id is the user's id) or @channelusername",
        "Telegram bots can only message people who have started a chat with the bot first.",
    ),
    "slack": TestTarget(
        "Channel id", "a channel id (C0123…) the app is a member of, or a user id (U0123…) for a DM",
        "The bot must be invited to a channel before it can post there.",
    ),
    "meta": TestTarget(
        "Recipient",
        "WhatsApp: PHONE_NUMBER_ID:PHONE (e.g. 1234567890:4915112345678); Messenger: the person's page-scoped id",
        "Messenger and WhatsApp only allow a free-form message within 24 hours of the person's last "
        "message; someone who never wrote to the page or number cannot be messaged this way.",
    ),
    "line": TestTarget(
        "User id", "the LINE user id (U followed by 32 hex digits), group id or room id",
        "LINE pushes only to people who added the account as a friend; push messages count against "
        "the plan's monthly message quota.",
    ),
    "wechat": TestTarget(
        "OpenID", "the follower's OpenID for this Official Account",
        "WeChat's customer-service API only reaches a follower within 48 hours of their last message; "
        "someone who never wrote to the account cannot be messaged.",
    ),
    "generic": TestTarget(
        "User", "the user id your app expects in the `user` field",
        "The message is POSTed, signed, to the channel's reply_url; without a reply_url there is nowhere to send it.",
    ),
}


def setting_fields(kind: str) -> list[SettingField]:
    """The settings a kind takes, required first, then optional, then `public_url`."""
    cls = channel_class(kind)
    names = [*cls.required, *(k for k in cls.optional if k not in cls.required)]
    if "public_url" not in names:
        names.append("public_url")
    return [
        SettingField(
            name, name in cls.required, name not in SHOWN, name in cls.generated, str(cls.optional.get(name, ""))
        )
        for name in names
    ]


def form_settings(kind: str, form: Mapping[str, Any]) -> dict[str, str]:
    """The kind's settings a submitted connect form fills in (blank fields left out), stripped."""
    values = {f.name: str(form.get(f.name) or "").strip() for f in setting_fields(kind)}
    return {k: v for k, v in values.items() if v}


def check_name(name: str) -> str:
    """A channel's name, stripped; BadRequest when empty or too long."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise BadRequest(f"give the channel a name of 1 to {MAX_NAME} characters")
    return name


def get_channel(session: Session, bot: Bot, channel_id: str) -> ChannelConfig:
    """A channel of this bot, or NotFound (another bot's channel does not exist here)."""
    row = session.get(ChannelConfig, channel_id)
    if row is None or row.bot_id != bot.id:
        raise NotFound("no such channel", code="unknown_channel")
    return row


def update_settings(session: Session, box: SecretBox, row: ChannelConfig, form: Mapping[str, Any]) -> list[str]:
    """Apply an edit form: a blank secret keeps its stored value, a blank visible setting is cleared.

    Args:
        session: the database session (committed on success).
        box: seals the settings.
        row: the channel to change.
        form: the submitted fields, by setting name.

    Returns:
        The names of the settings whose value changed (for the audit log; never the values).

    Raises:
        BadRequest: a required setting left empty; nothing is stored.
    """
    stored = box.open(row.config)
    updated: dict[str, Any] = {}
    for field in setting_fields(row.kind):
        given = str(form.get(field.name) or "").strip()
        if given:
            updated[field.name] = given
        elif field.secret and stored.get(field.name):
            updated[field.name] = stored[field.name]
    channel_class(row.kind).check_config(updated)
    changed = sorted(k for k in {*stored, *updated} if stored.get(k) != updated.get(k))
    if changed:
        row.config = box.seal(updated)
        session.add(row)
        session.commit()
    return changed


def set_enabled(session: Session, row: ChannelConfig, enabled: bool) -> None:
    """Turn a channel on or off (a disabled channel's webhook answers 404)."""
    row.enabled = enabled
    session.add(row)
    session.commit()


def delete_channel(session: Session, row: ChannelConfig) -> None:
    """Remove a channel and its delivery bookkeeping; the conversations it carried stay."""
    session.exec(delete(ChannelDelivery).where(col(ChannelDelivery.channel_id) == row.id))  # type: ignore[call-overload]
    session.delete(row)
    session.commit()


def test_address(kind: str, destination: str) -> dict[str, Any]:
    """The `address` a channel's send path needs to reach `destination` on this platform.

    Raises:
        BadRequest: the kind has no test send, or the destination is empty or malformed.
    """
    destination = destination.strip()
    if kind not in TEST_TARGETS:
        raise BadRequest(f"{kind} channels cannot send a test message from the console")
    if not destination:
        raise BadRequest(f"enter the {TEST_TARGETS[kind].label.lower()} to send the test message to")
    if kind == "telegram":
        chat: int | str = int(destination) if destination.lstrip("-").isdigit() else destination
        return {"chat_id": chat}
    if kind == "slack":
        return {"channel": destination, "thread_ts": None}
    if kind == "meta":
        number, sep, phone = destination.partition(":")
        if sep:
            if not number.strip() or not phone.strip():
                raise BadRequest("WhatsApp recipients are PHONE_NUMBER_ID:PHONE")
            return {"product": "whatsapp", "phone_number_id": number.strip(), "to": phone.strip().lstrip("+")}
        return {"product": "messenger", "to": destination}
    if kind == "line":
        return {"to": destination}
    if kind == "wechat":
        return {"openid": destination, "account": ""}
    return {"user": destination}


def build_test_channel(kind: str, config: Mapping[str, Any], **options: Any) -> BaseChannel:
    """A channel for a console test send: like the webhook's, but never threading (there is no thread)."""
    config = {k: v for k, v in config.items() if k != "reply_in_thread"}
    return create_channel(kind, config, **options)


async def send_test(channel: BaseChannel, destination: str, text: str) -> int:
    """Send `text` to `destination` through the channel's real send path (split, retried); the parts sent.

    Nothing is stored: a test message is not a reply of any conversation.

    Raises:
        BadRequest: the destination or text is unusable here.
        SendError: the platform refused it (its answer is in the message) or could not be reached.
    """
    text = text.strip()
    if not text or len(text) > MAX_TEST_TEXT:
        raise BadRequest(f"write a test message of 1 to {MAX_TEST_TEXT} characters")
    if channel.kind == "generic" and not channel.config.get("reply_url"):
        raise BadRequest("this generic channel has no reply_url: set one to send messages")
    address = test_address(channel.kind, destination)
    to = InboundMessage(channel.bot, channel.kind, destination.strip(), "console-test", "", address=address)
    reply = OutboundReply(f"test-{uuid.uuid4().hex}", to, text)
    parts = channel.format(reply)
    progress = Progress()
    try:
        await channel.post_parts(reply, parts, progress)
    except (KeyError, ValueError) as exc:  # an answer without the fields the platform documents
        raise SendError(f"{channel.kind} answered something unexpected ({type(exc).__name__})") from None
    return progress.sent

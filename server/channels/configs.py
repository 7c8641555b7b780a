"""Stored channel configurations: add and list them (the `frontdesk channels` commands)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from server import store
from server.channels.base import channel_class
from server.errors import BadRequest, Conflict
from server.secret_box import SecretBox
from server.tables import ChannelConfig

SHOWN = frozenset(
    {
        "api_base",
        "graph_version",
        "public_url",
        "reply_url",
        "bot_user_id",
        "appid",
        "passive_seconds",
        "window_seconds",
        "reply_in_thread",
    }
)


@dataclass
class ChannelInfo:
    """A channel as the CLI shows it: secrets masked, webhook path included."""

    id: str
    kind: str
    name: str
    enabled: bool
    path: str
    settings: dict[str, str]


def webhook_path(kind: str, bot_slug: str, channel_id: str) -> str:
    """The URL path to register on the platform (prefix it with the public https origin)."""
    return f"/webhooks/{kind}/{bot_slug}/{channel_id}"


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE strings as a dict; BadRequest on a pair without '='."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"--set expects KEY=VALUE, got {pair.split('=')[0]!r}")
        out[key.strip()] = value
    return out


def add_channel(
    engine: Engine, box: SecretBox, bot_slug: str, kind: str, name: str, settings: dict[str, Any]
) -> tuple[ChannelInfo, dict[str, str]]:
    """Store a channel for a bot after checking its settings; the settings are stored encrypted.

    Args:
        engine: the database.
        box: seals the settings (they hold the platform's secrets).
        bot_slug: the bot's slug.
        kind: a registered channel kind.
        name: a name unique per bot.
        settings: the platform's secrets and options.

    Returns:
        The stored channel, and the secrets generated for it (to show once and register).
    """
    cls = channel_class(kind)
    generated = {k: secrets.token_urlsafe(32) for k in cls.generated if not settings.get(k)}
    config = {**settings, **generated}
    cls.check_config(config)
    with Session(engine, expire_on_commit=False) as session:
        bot = store.get_bot(session, bot_slug)
        taken = select(ChannelConfig).where(
            ChannelConfig.bot_id == bot.id, ChannelConfig.name == name
        )
        if session.exec(taken).first():
            raise Conflict(f"bot {bot_slug!r} already has a channel named {name!r}")
        row = ChannelConfig(bot_id=bot.id, kind=kind, name=name, config=box.seal(config))
        session.add(row)
        session.commit()
    return info(row, bot_slug, config), generated


def list_channels(engine: Engine, box: SecretBox, bot_slug: str) -> list[ChannelInfo]:
    """A bot's channels, oldest first, secrets masked."""
    with Session(engine) as session:
        bot = store.get_bot(session, bot_slug)
        query = select(ChannelConfig).where(ChannelConfig.bot_id == bot.id)
        rows = session.exec(query.order_by(col(ChannelConfig.created_at))).all()
        return [info(r, bot_slug, box.open(r.config)) for r in rows]


def reseal_channels(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every channel's settings with the current key (after a key rotation); the count."""
    with Session(engine) as session:
        rows = session.exec(select(ChannelConfig)).all()
        for row in rows:
            row.config = box.reseal(row.config)
            session.add(row)
        session.commit()
        return len(rows)


def info(row: ChannelConfig, bot_slug: str, config: dict[str, Any]) -> ChannelInfo:
    """The public view of a stored channel, given its opened settings."""
    masked = {k: (str(v) if k in SHOWN else "***") for k, v in sorted(config.items())}
    return ChannelInfo(
        row.id, row.kind, row.name, row.enabled, webhook_path(row.kind, bot_slug, row.id), masked
    )

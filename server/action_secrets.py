"""Per-bot secrets of HTTP rule actions, sealed at rest by server/secret_box.py.

- The signing secret: the HMAC key of the X-Frontdesk-Signature header every action request
  carries (Bot.action_signing_secret, {"fernet": token}). Created on first use; rotatable.
- Action secrets: named values templates reach as {{ secrets.NAME }} in an action's URL, headers
  and body (Bot.action_secrets, a sealed {name: value} dict). Never shown back, never logged.

The console shows and rotates these through the functions here. docs/rules.md has the recipe an
endpoint uses to verify the signature.
"""

from __future__ import annotations

import re
import secrets as token_source
from typing import Any

from sqlalchemy import String, cast, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from server.errors import BadRequest
from server.secret_box import SecretBox
from server.tables import Bot

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_VALUE = 8192
MAX_SECRETS = 50
SIGNING_PREFIX = "whsec_"


def new_signing_secret() -> str:
    """A fresh signing secret, e.g. 'whsec_3q2…' (256 random bits)."""
    return SIGNING_PREFIX + token_source.token_urlsafe(32)


def signing_secret(session: Session, box: SecretBox, bot: Bot) -> str:
    """The bot's signing secret, created (and stored sealed) the first time it is asked for.

    Two workers asking at once agree: only the first write lands, the other reads it back.
    """
    if bot.action_signing_secret:
        return str(box.open(bot.action_signing_secret)["secret"])
    sealed = box.seal({"secret": new_signing_secret()})
    session.exec(  # type: ignore[call-overload]
        update(Bot).where(col(Bot.id) == bot.id, _unset(col(Bot.action_signing_secret))).values(
            action_signing_secret=sealed
        )
    )
    session.commit()
    session.refresh(bot)
    return str(box.open(bot.action_signing_secret or {})["secret"])


def _unset(column: Any) -> Any:
    """SQL NULL, or the JSON null SQLModel writes for a None it inserts."""
    return or_(column.is_(None), cast(column, String) == "null")


def rotate_signing_secret(session: Session, box: SecretBox, bot: Bot) -> str:
    """Replace the bot's signing secret; the new one signs every request from now on."""
    secret = new_signing_secret()
    bot.action_signing_secret = box.seal({"secret": secret})
    session.add(bot)
    session.commit()
    return secret


def action_secrets(box: SecretBox, bot: Bot) -> dict[str, str]:
    """The bot's action secrets, opened (for the action that sends them only)."""
    return {str(k): str(v) for k, v in box.open(bot.action_secrets or {}).items()}


def secret_names(box: SecretBox, bot: Bot) -> list[str]:
    """The names of the bot's action secrets (what the console may show)."""
    return sorted(action_secrets(box, bot))


def set_action_secret(session: Session, box: SecretBox, bot: Bot, name: str, value: str) -> None:
    """Store (or replace) one named action secret, sealed; BadRequest on a bad name or value."""
    if not isinstance(name, str) or not NAME.match(name):
        raise BadRequest("a secret name is letters, digits and _, starting with a letter or _ (at most 64)")
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE or "\n" in value or "\r" in value:
        raise BadRequest(f"a secret value is 1 to {MAX_VALUE} characters on one line")
    values = action_secrets(box, bot)
    if name not in values and len(values) >= MAX_SECRETS:
        raise BadRequest(f"a bot has at most {MAX_SECRETS} action secrets")
    values[name] = value
    bot.action_secrets = box.seal(values)
    session.add(bot)
    session.commit()


def delete_action_secret(session: Session, box: SecretBox, bot: Bot, name: str) -> bool:
    """Forget one action secret; False when there was none of that name."""
    values = action_secrets(box, bot)
    if values.pop(name, None) is None:
        return False
    bot.action_secrets = box.seal(values) if values else None
    session.add(bot)
    session.commit()
    return True


def reseal_action_secrets(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every bot's signing and action secrets with the current key (key rotation); the count."""
    with Session(engine) as session:
        bots = session.exec(select(Bot)).all()
        count = 0
        for bot in bots:
            if bot.action_signing_secret:
                bot.action_signing_secret = box.reseal(bot.action_signing_secret)
                count += 1
            if bot.action_secrets:
                bot.action_secrets = box.reseal(bot.action_secrets)
                count += 1
            session.add(bot)
        session.commit()
        return count


def load_signing_secret(engine: Engine, box: SecretBox, bot_id: str) -> str:
    """The signing secret of a bot by id, in a session of its own (what a running turn calls)."""
    with Session(engine, expire_on_commit=False) as session:
        bot = session.get(Bot, bot_id)
        if bot is None:
            raise LookupError(f"no bot {bot_id!r}")
        return signing_secret(session, box, bot)


def load_action_secrets(engine: Engine, box: SecretBox, bot_id: str) -> dict[str, str]:
    """The action secrets of a bot by id, read fresh (a console change applies at the next call)."""
    with Session(engine) as session:
        stored = session.exec(select(Bot.action_secrets).where(Bot.id == bot_id)).first()
    return {str(k): str(v) for k, v in box.open(stored or {}).items()}

"""API keys for the REST API: `fd_` + 256 random bits, stored as SHA-256, shown in full once.

A key acts with its own role (admin, agent or viewer), never above its creator's current role:
a creator demoted later drags the key down with them, and removing the creator revokes the key.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from admin.i18n import Msg
from admin.sessions import aware, token_hash
from server.errors import BadRequest, NotFound
from server.tables import ApiKey, User, utcnow

PREFIX = "fd_"
SHOWN = 11  # characters of the key kept in clear to tell keys apart: "fd_" + 8
KEY_ROLES = ("admin", "agent", "viewer")
_RANK = {"viewer": 0, "agent": 1, "admin": 2, "owner": 3}
TOUCH_EVERY = timedelta(minutes=1)


def create(session: Session, creator: User, name: str, role: str) -> tuple[str, ApiKey]:
    """A new key of the creator's tenant; returns the full key (shown once) and the row."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequest(Msg("give the key a name of 1 to %(n)s characters", n=100))
    if role not in KEY_ROLES:
        raise BadRequest(Msg("a key's role is one of %(roles)s", roles=", ".join(KEY_ROLES)))
    if _RANK[role] > _RANK.get(creator.role, -1):
        raise BadRequest(
            Msg("a %(creator)s cannot create a key with the role %(role)s", creator=creator.role, role=role),
            code="forbidden", status=403,
        )
    raw = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        tenant_id=creator.tenant_id, name=name, prefix=raw[:SHOWN], key_hash=token_hash(raw), role=role,
        created_by=creator.id, created_by_email=creator.email,
    )
    session.add(row)
    session.commit()
    return raw, row


def effective_role(key: ApiKey, creator: User) -> str:
    """The lower of the key's role and its creator's current role."""
    return key.role if _RANK[key.role] <= _RANK.get(creator.role, -1) else creator.role


def authenticate(session: Session, raw: str) -> tuple[ApiKey, User] | None:
    """The live key named by a bearer token and a stand-in user acting with the key's role, or None."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == token_hash(raw))).first()
    if key is None or key.revoked_at is not None:
        return None
    from admin.auth import is_disabled  # here: admin.auth imports this module

    creator = session.get(User, key.created_by)
    if creator is None or creator.tenant_id != key.tenant_id or is_disabled(creator):
        return None  # a disabled creator's keys are revoked; this also covers a key made while disabling
    now = utcnow()
    if key.last_used_at is None or now - aware(key.last_used_at) >= TOUCH_EVERY:
        key.last_used_at = now
        session.add(key)
        session.commit()
    stand_in = User(
        id=creator.id, tenant_id=key.tenant_id, email=creator.email, password_hash="",
        role=effective_role(key, creator),
    )
    return key, stand_in


def tenant_keys(session: Session, tenant_id: str) -> list[ApiKey]:
    """The tenant's keys, live ones first, newest first."""
    rows = session.exec(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(col(ApiKey.created_at).desc())
    ).all()
    return sorted(rows, key=lambda k: k.revoked_at is not None)


def get(session: Session, tenant_id: str, key_id: str) -> ApiKey:
    """A key of the tenant, or 404 (another tenant's keys do not exist for it)."""
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise NotFound(Msg("no such API key"), code="unknown_api_key")
    return key


def revoke(session: Session, tenant_id: str, key_id: str) -> ApiKey:
    """Revoke a key of the tenant (404 for another tenant's); revoking twice keeps the first time."""
    key = get(session, tenant_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.commit()
    return key


def revoke_created_by(session: Session, user_id: str, when: datetime | None = None) -> int:
    """Revoke every live key a user created (the user is being removed); returns how many."""
    keys = session.exec(select(ApiKey).where(ApiKey.created_by == user_id, col(ApiKey.revoked_at).is_(None))).all()
    for key in keys:
        key.revoked_at = when or utcnow()
        session.add(key)
    session.commit()
    return len(keys)

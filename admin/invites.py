"""Invites: a single-use link, valid for TTL, that lets someone join a tenant with a role.

Only the link token's SHA-256 is stored. There is no mail server: the console shows the link to
the inviter once, and they pass it on.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from admin.i18n import Msg
from admin.sessions import aware, token_hash
from server.errors import BadRequest, Conflict, NotFound
from server.tables import Invite, User, utcnow

TTL = timedelta(days=7)
EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,255}\.[^@\s<>\"'.]{2,63}$")


class InviteInvalid(NotFound):
    """The link is unknown, used, revoked or expired."""

    code = "invalid_invite"


def create(session: Session, inviter: User, email: str, role: str) -> tuple[str, Invite]:
    """A new invite (earlier pending ones for the same e-mail are revoked); returns the link token and the row."""
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise BadRequest(Msg("enter an e-mail address such as ana@example.com"))
    if session.exec(select(User).where(User.email == email)).first() is not None:
        raise Conflict(Msg("this e-mail already has a Frontdesk account"))
    now = utcnow()
    for old in pending(session, inviter.tenant_id):
        if old.email == email:
            old.revoked_at = now
            session.add(old)
    raw = secrets.token_urlsafe(32)
    row = Invite(
        tenant_id=inviter.tenant_id, email=email, role=role, token_hash=token_hash(raw), invited_by=inviter.id,
        created_at=now, expires_at=now + TTL,
    )
    session.add(row)
    session.commit()
    return raw, row


def pending(session: Session, tenant_id: str) -> list[Invite]:
    """The tenant's invites that can still be accepted, newest first."""
    rows = session.exec(
        select(Invite)
        .where(Invite.tenant_id == tenant_id, col(Invite.accepted_at).is_(None), col(Invite.revoked_at).is_(None))
        .order_by(col(Invite.created_at).desc())
    ).all()
    now = utcnow()
    return [r for r in rows if aware(r.expires_at) > now]


def find(session: Session, raw: str) -> Invite:
    """The invite a link token names, if it can still be accepted; InviteInvalid otherwise."""
    row = session.exec(select(Invite).where(Invite.token_hash == token_hash(raw))).first() if raw else None
    if row is None or row.accepted_at is not None or row.revoked_at is not None or aware(row.expires_at) <= utcnow():
        raise InviteInvalid(Msg("this invite link is invalid, already used or expired; ask for a new one"))
    return row


def accept(session: Session, raw: str, password_hash: str) -> User:
    """Create the invited user and use up the invite."""
    row = find(session, raw)
    if session.exec(select(User).where(User.email == row.email)).first() is not None:
        raise Conflict(Msg("this e-mail already has a Frontdesk account"))
    user = User(tenant_id=row.tenant_id, email=row.email, password_hash=password_hash, role=row.role)
    row.accepted_at = utcnow()
    session.add(user)
    session.add(row)
    session.commit()
    return user


def get(session: Session, tenant_id: str, invite_id: str) -> Invite:
    """An invite of the tenant, or 404 (another tenant's invites do not exist for it)."""
    row = session.get(Invite, invite_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(Msg("no such invite"), code="unknown_invite")
    return row


def revoke(session: Session, tenant_id: str, invite_id: str) -> Invite:
    """Revoke a pending invite of the tenant (404 for another tenant's)."""
    row = get(session, tenant_id, invite_id)
    if row.revoked_at is None and row.accepted_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
    return row

"""Server-side console sessions: a random 256-bit id in the cookie, only its SHA-256 in the table.

A session ends after IDLE_TIMEOUT without a request or ABSOLUTE_TIMEOUT after sign-in, at
logout, and when its user's password changes or the user is removed. Each session carries its
own CSRF token (admin/csrf.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from server.tables import ConsoleSession, User, utcnow

COOKIE = "frontdesk_session"
IDLE_TIMEOUT = timedelta(hours=12)
ABSOLUTE_TIMEOUT = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session


def token_hash(raw: str) -> str:
    """The stored form of a high-entropy token (session id, API key, invite link)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def aware(moment: datetime) -> datetime:
    """A stored timestamp as timezone-aware UTC (SQLite may hand back naive ones)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start(session: Session, user: User, ip: str | None, user_agent: str) -> tuple[str, ConsoleSession]:
    """Open a new session for user; returns the cookie value (shown to nobody else) and the row."""
    raw = secrets.token_urlsafe(32)  # 256 bits
    now = utcnow()
    row = ConsoleSession(
        id=token_hash(raw), user_id=user.id, csrf_token=secrets.token_urlsafe(32), ip=ip,
        user_agent=user_agent[:300], created_at=now, last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT,
    )
    session.add(row)
    session.commit()
    return raw, row


def find(session: Session, raw: str) -> tuple[ConsoleSession, User] | None:
    """The live session named by a cookie value and its user, or None (an expired one is deleted)."""
    if not raw or len(raw) > 200:
        return None
    row = session.get(ConsoleSession, token_hash(raw))
    if row is None:
        return None
    now = utcnow()
    if aware(row.expires_at) <= now or aware(row.last_seen_at) + IDLE_TIMEOUT <= now:
        session.delete(row)
        session.commit()
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    if now - aware(row.last_seen_at) >= TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
        session.commit()
    return row, user


def end(session: Session, raw: str) -> None:
    """Delete the session named by a cookie value (no error when it is already gone)."""
    session.exec(delete(ConsoleSession).where(col(ConsoleSession.id) == token_hash(raw)))  # type: ignore[call-overload]
    session.commit()


def end_all(session: Session, user_id: str) -> int:
    """Delete every session of a user (password changed, user removed); returns how many."""
    rows = session.exec(select(ConsoleSession).where(ConsoleSession.user_id == user_id)).all()
    for row in rows:
        session.delete(row)
    session.commit()
    return len(rows)


def purge_expired(session: Session) -> int:
    """Delete sessions past their absolute end or idle for longer than the idle timeout."""
    now = utcnow()
    stale = session.exec(
        select(ConsoleSession).where(
            (col(ConsoleSession.expires_at) <= now) | (col(ConsoleSession.last_seen_at) <= now - IDLE_TIMEOUT)
        )
    ).all()
    for row in stale:
        session.delete(row)
    session.commit()
    return len(stale)

"""The audit log: every console or API change, and every sign-in, as one row.

Handlers call `record(session, user, action, target, details, request=request)` after their
change is committed; `request` adds the caller's address and, for an API key, which key it was.
The shell has no console user: `frontdesk users ...` passes `actor="cli:<os user>"` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import func
from sqlmodel import Session, col, select

from server.tables import AuditEvent, User

PAGE_SIZE = 50


def record(
    session: Session, user: User | None, action: str, target: str = "", details: dict[str, Any] | None = None,
    *, request: Request | None = None, tenant_id: str | None = None, actor: str | None = None,
) -> AuditEvent:
    """Write one audit event and commit it.

    Args:
        session: the database session (it is committed).
        user: who did it; None for a failed sign-in with an unknown e-mail.
        action: dotted name, e.g. "rule.save" or "login.failed".
        target: what it was done to (a bot slug, a rule name, an e-mail).
        details: small JSON-able facts about the change.
        request: the request, for the address and the API key used.
        tenant_id: the tenant when there is no user.
        actor: who did it when there is no user, e.g. "cli:alice" for `frontdesk users ...`.

    Returns:
        The stored event.
    """
    actor = user.email if user else (actor or "")
    key = getattr(request.state, "api_key", None) if request is not None else None
    if key is not None:
        actor = f"api key {key.prefix}… ({key.name})"
    event = AuditEvent(
        tenant_id=user.tenant_id if user else tenant_id, user_id=user.id if user else None, actor=actor,
        action=action, target=str(target)[:300], details=details or {},
        ip=request.client.host if request is not None and request.client else None,
    )
    session.add(event)
    session.commit()
    return event


@dataclass
class AuditPage:
    """One page of a tenant's audit log, newest first."""

    events: list[AuditEvent]
    page: int
    pages: int
    total: int


def query(
    session: Session, tenant_id: str, action: str | None = None, user_id: str | None = None, page: int = 1
) -> AuditPage:
    """A tenant's events, filtered by action and user, newest first, PAGE_SIZE per page."""
    where = [AuditEvent.tenant_id == tenant_id]
    if action:
        where.append(AuditEvent.action == action)
    if user_id:
        where.append(AuditEvent.user_id == user_id)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*where)).one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    events = session.exec(
        select(AuditEvent).where(*where).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    return AuditPage(list(events), page, pages, total)


def actions(session: Session, tenant_id: str) -> list[str]:
    """The actions seen in a tenant's log, for the filter."""
    rows = session.exec(select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id).distinct()).all()
    return sorted(rows)

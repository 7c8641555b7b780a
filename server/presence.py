"""Agent presence: who has the console inbox open, from its heartbeats (AgentPresence rows).

The inbox calls POST /api/v1/agents/heartbeat about every 20 seconds; a user counts as online for
ONLINE_SECONDS after their last one. Viewers are never counted: they cannot answer customers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from server.tables import AgentPresence, User, utcnow

ONLINE_SECONDS = 60
ANSWERING_ROLES = ("owner", "admin", "agent")


def heartbeat(session: Session, user: User, now: datetime | None = None) -> datetime:
    """Record that the user has the inbox open now; returns the stored moment."""
    moment = now or utcnow()
    values = {"last_seen": moment}
    where = (col(AgentPresence.tenant_id) == user.tenant_id, col(AgentPresence.user_id) == user.id)
    result = session.exec(update(AgentPresence).where(*where).values(**values))  # type: ignore[call-overload]
    if result.rowcount == 0:
        session.add(AgentPresence(tenant_id=user.tenant_id, user_id=user.id, last_seen=moment))
        try:
            session.commit()
        except IntegrityError:  # the same user's other tab inserted first
            session.rollback()
            session.exec(update(AgentPresence).where(*where).values(**values))  # type: ignore[call-overload]
    session.commit()
    return moment


def online_agents(session: Session, tenant_id: str, now: datetime | None = None) -> list[tuple[User, datetime]]:
    """The tenant's users who can answer and sent a heartbeat in the last ONLINE_SECONDS, newest first."""
    since = (now or utcnow()) - timedelta(seconds=ONLINE_SECONDS)
    rows = session.exec(
        select(User, AgentPresence.last_seen)
        .join(AgentPresence, col(AgentPresence.user_id) == col(User.id))
        .where(
            col(AgentPresence.tenant_id) == tenant_id,
            col(User.tenant_id) == tenant_id,
            col(User.role).in_(ANSWERING_ROLES),
            col(AgentPresence.last_seen) >= since,
        )
        .order_by(col(AgentPresence.last_seen).desc())
    ).all()
    return [(user, seen) for user, seen in rows]


def any_agent_online(engine: Engine, tenant_id: str) -> bool:
    """Whether someone of the tenant who can answer has the inbox open (what a handing-off turn asks)."""
    since = utcnow() - timedelta(seconds=ONLINE_SECONDS)
    with Session(engine) as session:
        count = session.exec(
            select(func.count())
            .select_from(AgentPresence)
            .join(User, col(AgentPresence.user_id) == col(User.id))
            .where(
                col(AgentPresence.tenant_id) == tenant_id,
                col(User.role).in_(ANSWERING_ROLES),
                col(AgentPresence.last_seen) >= since,
            )
        ).one()
    return count > 0

"""Agent presence for the console inbox: POST /api/v1/agents/heartbeat, GET /api/v1/agents/online.

A user counts as online for server.presence.ONLINE_SECONDS after their last heartbeat; while no
one is, a bot whose business hours require an agent gives handing-off customers its offline message.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from admin.auth import CurrentUser
from server import presence
from server.api.deps import SessionDep

router = APIRouter(prefix="/api/v1/agents", tags=["agent presence"])


class HeartbeatOut(BaseModel):
    """The recorded heartbeat."""

    user_id: str
    last_seen: datetime
    online_seconds: int
    counted: bool  # False for viewers: they cannot answer customers, so they never count as online


class AgentOnline(BaseModel):
    """One user with the inbox open."""

    user_id: str
    email: str
    role: str
    last_seen: datetime


class OnlineOut(BaseModel):
    """Who of the tenant can answer customers right now."""

    agents: list[AgentOnline]
    count: int
    online_seconds: int


@router.post("/heartbeat")
def heartbeat(user: CurrentUser, session: SessionDep) -> HeartbeatOut:
    """The inbox is open: count this user as online for the next minute."""
    seen = presence.heartbeat(session, user)
    return HeartbeatOut(user_id=user.id, last_seen=seen, online_seconds=presence.ONLINE_SECONDS,
                        counted=user.role in presence.ANSWERING_ROLES)


@router.get("/online")
def online(user: CurrentUser, session: SessionDep) -> OnlineOut:
    """The tenant's users who can answer and have the inbox open, most recent first."""
    rows = presence.online_agents(session, user.tenant_id)
    agents = [AgentOnline(user_id=u.id, email=u.email, role=u.role, last_seen=seen) for u, seen in rows]
    return OnlineOut(agents=agents, count=len(agents), online_seconds=presence.ONLINE_SECONDS)

"""Business hours of a bot over JSON: GET/PUT/DELETE /api/v1/bots/{bot}/hours (owners and admins).

The shape is bot/hours.py's (timezone, weekly, holidays, offline_message, require_agent_online);
docs/handoff.md describes it. A change applies at the bot's next handoff, on every worker within
about 5 seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel

from admin.auth import CurrentUser, require_manager
from bot.errors import ConfigError
from bot.hours import BusinessHours, parse_hours
from server import presence
from server.api.deps import ServicesDep, SessionDep
from server.api.documents import owned_bot
from server.errors import BadRequest
from server.tables import Bot, utcnow

router = APIRouter(prefix="/api/v1/bots", tags=["business hours"])


class HoursOut(BaseModel):
    """A bot's business hours (null: always open) and whether a handoff now would reach a person."""

    bot: str
    hours: dict[str, Any] | None
    open: bool
    reason: str
    next_open: datetime | None = None
    agents_online: int


def hours_out(session: SessionDep, bot: Bot) -> HoursOut:
    """The stored hours and the state right now."""
    online = len(presence.online_agents(session, bot.tenant_id))
    hours: BusinessHours | None = parse_hours(bot.hours) if bot.hours else None
    if hours is None:
        return HoursOut(bot=bot.slug, hours=None, open=True, reason="no business hours set: always open",
                        agents_online=online)
    state = hours.availability(utcnow(), lambda: online > 0)
    return HoursOut(bot=bot.slug, hours=hours.to_dict(), open=state.open, reason=state.reason,
                    next_open=state.next_open, agents_online=online)


@router.get("/{bot}/hours")
def get_hours(bot: str, user: CurrentUser, session: SessionDep) -> HoursOut:
    """The bot's business hours and whether it is open now."""
    require_manager(user, "see business hours")
    return hours_out(session, owned_bot(session, user, bot))


@router.put("/{bot}/hours")
def put_hours(
    bot: str, user: CurrentUser, session: SessionDep, services: ServicesDep,
    body: dict[str, Any] = Body(..., description="timezone, weekly, holidays, offline_message, require_agent_online"),  # noqa: B008
) -> HoursOut:
    """Replace the bot's business hours (checked first: a mistake changes nothing)."""
    row = owned_bot(session, user, bot)  # first: another tenant's bot is a 404 for every role
    require_manager(user, "change business hours")
    try:
        hours = parse_hours(body)
    except ConfigError as exc:
        raise BadRequest(str(exc), code="invalid_hours") from exc
    row.hours = hours.to_dict()
    session.add(row)
    session.commit()
    services.runtimes.reload_profile(row.slug)
    return hours_out(session, row)


@router.delete("/{bot}/hours")
def delete_hours(bot: str, user: CurrentUser, session: SessionDep, services: ServicesDep) -> HoursOut:
    """Remove the bot's business hours: always open, handoffs say the usual notice."""
    row = owned_bot(session, user, bot)  # first: another tenant's bot is a 404 for every role
    require_manager(user, "change business hours")
    row.hours = None
    session.add(row)
    session.commit()
    services.runtimes.reload_profile(row.slug)
    return hours_out(session, row)

"""Console page of a bot's business hours: timezone, weekly ranges, holidays, offline message.

Saving goes through bot.hours.parse_hours, the same check as PUT /api/v1/bots/{bot}/hours, and
reloads the bot's profile at once; a mistake is shown beside the form and changes nothing. Every
signed-in user of the tenant may look; only owners and admins may change (audited).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from admin import audit
from admin.auth import MANAGERS, CurrentUser, require_manager
from admin.i18n import N_, localize
from admin.routes import render, tenant_bot
from bot.errors import ConfigError
from bot.hours import DAYS, DEFAULT_OFFLINE, parse_hours
from server.api.deps import ServicesDep, SessionDep
from server.api.hours import hours_out
from server.tables import Bot, User

router = APIRouter(prefix="/admin", include_in_schema=False)
NOTICES = {"saved": N_("Business hours saved."), "removed": N_("Business hours removed: the bot is always open.")}
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), strict=True))
_ZONES: list[str] = []


def zones() -> list[str]:
    """The IANA timezone names, sorted (read once)."""
    if not _ZONES:
        _ZONES.extend(sorted(available_timezones()))
    return _ZONES


def page_url(slug: str, notice: str | None = None) -> str:
    """The business hours page of a bot."""
    return f"/admin/bots/{quote(slug)}/hours" + (f"?notice={notice}" if notice else "")


def form_of(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The form's values from the stored hours (None: an empty form with the defaults)."""
    hours = parse_hours(stored).to_dict() if stored else None
    if hours is None:
        return {"timezone": "UTC", "days": {d: "" for d in DAYS}, "holidays": "",
                "offline_message": DEFAULT_OFFLINE, "require_agent_online": True}
    return {
        "timezone": hours["timezone"],
        "days": {d: ", ".join(hours["weekly"].get(d, [])) for d in DAYS},
        "holidays": "\n".join(hours["holidays"]),
        "offline_message": hours["offline_message"],
        "require_agent_online": hours["require_agent_online"],
    }


def hours_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The hours JSON from the form: a day's ranges split on commas, holidays on commas or lines."""
    weekly = {}
    for day in DAYS:
        ranges = [r.strip() for r in str(form["days"].get(day, "")).split(",") if r.strip()]
        if ranges:
            weekly[day] = ranges
    holidays = [h.strip() for h in str(form["holidays"]).replace(",", "\n").splitlines() if h.strip()]
    return {
        "timezone": str(form["timezone"]).strip() or "UTC", "weekly": weekly, "holidays": holidays,
        "offline_message": form["offline_message"], "require_agent_online": bool(form["require_agent_online"]),
    }


def hours_page(
    request: Request, user: User, session: SessionDep, bot: Bot, *, status: int = 200, **extra: Any
) -> HTMLResponse:
    """The page: the state right now and the form."""
    extra.setdefault("form", form_of(bot.hours))
    response = render(
        request, "hours.html", user=user, bot=bot, state=hours_out(session, bot), days=DAY_NAMES, zones=zones(),
        can_edit=user.role in MANAGERS, notice=NOTICES.get(request.query_params.get("notice", "")), **extra,
    )
    response.status_code = status
    return response


@router.get("/bots/{slug}/hours", response_class=HTMLResponse)
def business_hours(slug: str, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    """The bot's business hours, whether a handoff now would reach a person, and the form."""
    return hours_page(request, user, session, tenant_bot(session, user, slug))


@router.post("/bots/{slug}/hours", response_class=HTMLResponse, response_model=None)
def save_hours(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep,
    timezone: Annotated[str, Form()] = "UTC", holidays: Annotated[str, Form()] = "",
    offline_message: Annotated[str, Form()] = DEFAULT_OFFLINE,
    require_agent_online: Annotated[bool, Form()] = False,
    mon: Annotated[str, Form()] = "", tue: Annotated[str, Form()] = "", wed: Annotated[str, Form()] = "",
    thu: Annotated[str, Form()] = "", fri: Annotated[str, Form()] = "", sat: Annotated[str, Form()] = "",
    sun: Annotated[str, Form()] = "",
) -> HTMLResponse | RedirectResponse:
    """Replace the bot's business hours; a mistake is shown beside the form and changes nothing."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change business hours"))
    days = {"mon": mon, "tue": tue, "wed": wed, "thu": thu, "fri": fri, "sat": sat, "sun": sun}
    form = {"timezone": timezone, "days": days, "holidays": holidays, "offline_message": offline_message,
            "require_agent_online": require_agent_online}
    try:
        hours = parse_hours(hours_from_form(form))
    except ConfigError as exc:
        return hours_page(request, user, session, bot, status=400, form=form, form_error=localize(request, exc))
    bot.hours = hours.to_dict()
    session.add(bot)
    session.commit()
    services.runtimes.reload_profile(bot.slug)
    audit.record(session, user, "hours.save", bot.slug, {"timezone": hours.timezone}, request=request)
    return RedirectResponse(page_url(bot.slug, "saved"), status_code=303)


@router.post("/bots/{slug}/hours/delete")
def remove_hours(
    slug: str, request: Request, user: CurrentUser, session: SessionDep, services: ServicesDep
) -> RedirectResponse:
    """Remove the bot's business hours: always open again."""
    bot = tenant_bot(session, user, slug)
    require_manager(user, N_("change business hours"))
    bot.hours = None
    session.add(bot)
    session.commit()
    services.runtimes.reload_profile(bot.slug)
    audit.record(session, user, "hours.delete", bot.slug, request=request)
    return RedirectResponse(page_url(bot.slug, "removed"), status_code=303)

"""Business hours: when a bot's team answers, and what customers hear when nobody can.

Stored per bot (Bot.hours) as JSON:

    {"timezone": "Europe/Paris",
     "weekly": {"mon": ["09:00-12:30", "13:30-18:00"], "sat": ["10:00-14:00"]},   # missing days: closed
     "holidays": ["2026-12-25"],
     "offline_message": "We're closed right now ... {{ next_open_text }}",
     "require_agent_online": true}

When a turn hands the conversation to a person while the team is closed (outside the weekly
hours, on a holiday) or, with require_agent_online, while no agent has the inbox open, the
customer gets the offline message instead of the handoff notice; the conversation is queued all
the same. A range like "22:00-06:00" runs past midnight and belongs to the day it starts on.
Docs: docs/handoff.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.types import TurnContext

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = {"timezone", "weekly", "holidays", "offline_message", "require_agent_online"}
MAX_RANGES = 6  # per day
MAX_HOLIDAYS = 366
DEFAULT_OFFLINE = (
    "Thanks for your message. Our team is not available right now"
    "{% if next_open_text %}; we're back {{ next_open_text }}{% endif %}. "
    "Your conversation is in our queue and a person will reply here as soon as they can."
)
_TEMPLATES = SandboxedEnvironment(autoescape=False)  # plain text, escaped by each channel
Range = tuple[time, time]  # end == time.max stands for 24:00


@dataclass(frozen=True)
class Availability:
    """Whether a person can answer now, and if not why and when the team is back."""

    open: bool
    reason: str  # e.g. "open", "closed: Sat 10:00 Europe/Paris is outside business hours", "no agent online"
    next_open: datetime | None = None


@dataclass
class BusinessHours:
    """A bot's weekly hours, holidays and offline message (see the module docstring)."""

    timezone: str = "UTC"
    weekly: dict[str, list[Range]] = field(default_factory=dict)
    holidays: set[date] = field(default_factory=set)
    offline_message: str = DEFAULT_OFFLINE
    require_agent_online: bool = True
    template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.template = _compile(self.offline_message)

    @property
    def zone(self) -> ZoneInfo:
        """The timezone."""
        return ZoneInfo(self.timezone)

    def is_open_at(self, moment: datetime) -> bool:
        """Whether moment falls in a weekly range of a day that is no holiday."""
        local = _local(moment, self.zone)
        for start_day in (local.date(), local.date() - timedelta(days=1)):
            if start_day in self.holidays:
                continue
            for start, end in self.weekly.get(DAYS[start_day.weekday()], []):
                opens = datetime.combine(start_day, start, self.zone)
                if end == time.max:
                    closes = datetime.combine(start_day + timedelta(days=1), time(0), self.zone)
                else:
                    closes = datetime.combine(start_day + timedelta(days=int(end <= start)), end, self.zone)
                if opens <= local < closes:  # wall-clock comparison (same zone), so DST days keep their hours
                    return True
        return False

    def next_open(self, moment: datetime) -> datetime | None:
        """The next time a range starts after moment (within a year), in the bot's timezone."""
        local = _local(moment, self.zone)
        for offset in range(0, 370):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            starts = sorted(s for s, _ in self.weekly.get(DAYS[day.weekday()], []))
            for start in starts:
                opens = datetime.combine(day, start, self.zone)
                if opens > local:
                    return opens
        return None

    def availability(self, moment: datetime, agents_online: Callable[[], bool] | None) -> Availability:
        """Open (within hours and, if required, an agent online), or closed with the reason."""
        local = _local(moment, self.zone)
        if local.date() in self.holidays and not self.is_open_at(local):
            return Availability(False, f"closed: {local:%Y-%m-%d} is a holiday", self.next_open(local))
        if not self.is_open_at(local):
            reason = f"closed: {local:%a %H:%M} {self.timezone} is outside business hours"
            return Availability(False, reason, self.next_open(local))
        if self.require_agent_online and agents_online is not None and not agents_online():
            return Availability(False, "no agent online", None)
        return Availability(True, "open")

    def offline_text(self, ctx: TurnContext, availability: Availability) -> str:
        """The offline message for this turn, rendered in the sandbox."""
        nxt = availability.next_open
        return self.template.render(
            bot=ctx.bot.public(),
            now=_local(ctx.now or datetime.now(self.zone), self.zone),
            next_open=nxt,
            next_open_text=_when(nxt, _local(ctx.now or datetime.now(self.zone), self.zone)) if nxt else "",
            reason=availability.reason,
            channel=ctx.channel,
            attributes=dict(ctx.state.attributes),
        ).strip()

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {
            "timezone": self.timezone,
            "weekly": {d: [_range_text(r) for r in self.weekly[d]] for d in DAYS if self.weekly.get(d)},
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "offline_message": self.offline_message,
            "require_agent_online": self.require_agent_online,
        }


def offline_notice(ctx: TurnContext) -> tuple[str, str] | None:
    """(reason, text) when the turn's handoff finds nobody to answer, else None (no hours: always open)."""
    hours = ctx.bot.hours
    if hours is None:
        return None
    moment = ctx.now or datetime.now(hours.zone)
    availability = hours.availability(moment, ctx.bot.services.agents_online)
    if availability.open:
        return None
    return availability.reason, hours.offline_text(ctx, availability)


def parse_hours(data: Any) -> BusinessHours:
    """Build business hours from their JSON; ConfigError names what is wrong."""
    if not isinstance(data, dict):
        raise ConfigError("hours must be a JSON object")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"hours has unknown field(s) {unknown}; known: {sorted(KEYS)}")
    timezone = data.get("timezone", "UTC")
    if not isinstance(timezone, str) or not timezone:
        raise ConfigError("hours.timezone must be an IANA name like Europe/Paris")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {timezone!r} (use an IANA name like Europe/Paris)") from exc
    require = data.get("require_agent_online", True)
    if not isinstance(require, bool):
        raise ConfigError("hours.require_agent_online must be true or false")
    message = data.get("offline_message", DEFAULT_OFFLINE)
    if not isinstance(message, str) or not message.strip():
        raise ConfigError("hours.offline_message must be a non-empty template")
    return BusinessHours(timezone, _weekly(data.get("weekly", {})), _holidays(data.get("holidays", [])),
                         message, require)


def _weekly(spec: Any) -> dict[str, list[Range]]:
    if not isinstance(spec, dict):
        raise ConfigError("hours.weekly must map days (mon ... sun) to lists of ranges like '09:00-17:00'")
    unknown = sorted(set(spec) - set(DAYS))
    if unknown:
        raise ConfigError(f"hours.weekly has unknown day(s) {unknown}; use {list(DAYS)}")
    weekly: dict[str, list[Range]] = {}
    for day, ranges in spec.items():
        if not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
            raise ConfigError(f"hours.weekly.{day} must be a list of up to {MAX_RANGES} ranges like '09:00-17:00'")
        parsed = sorted(_range(f"hours.weekly.{day}", r) for r in ranges)
        for (_, end), (start, _) in zip(parsed, parsed[1:], strict=False):
            if end > start or end == time.max:
                raise ConfigError(f"hours.weekly.{day}: ranges overlap")
        if parsed:
            weekly[day] = parsed
    return weekly


def _range(where: str, text: Any) -> Range:
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2:
        raise ConfigError(f"{where}: {text!r} must look like '09:00-17:30'")
    start, end = _clock(where, parts[0].strip()), parts[1].strip()
    stop = time.max if end == "24:00" else _clock(where, end)
    if stop == start:
        raise ConfigError(f"{where}: {text!r} is an empty range")
    return start, stop


def _clock(where: str, text: str) -> time:
    try:
        value = time.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not a time of day like 09:00") from exc
    if value.second or value.microsecond or value.tzinfo:
        raise ConfigError(f"{where}: {text!r} must be hours and minutes, like 09:00")
    return value


def _holidays(spec: Any) -> set[date]:
    if not isinstance(spec, list) or len(spec) > MAX_HOLIDAYS:
        raise ConfigError(f"hours.holidays must be a list of up to {MAX_HOLIDAYS} dates like 2026-12-25")
    days = set()
    for value in spec:
        try:
            days.add(date.fromisoformat(value))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"hours.holidays: {value!r} is not a date like 2026-12-25") from exc
    return days


def _compile(source: str) -> Template:
    try:
        return _TEMPLATES.from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"bad template in hours.offline_message: {exc}") from exc


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)


def _range_text(value: Range) -> str:
    start, end = value
    return f"{start:%H:%M}-{'24:00' if end == time.max else f'{end:%H:%M}'}"


def _when(moment: datetime, now: datetime) -> str:
    """'today at 09:00', 'tomorrow at 09:00' or 'Monday at 09:00' ('on 2027-01-04 at 09:00' beyond a week)."""
    days = (moment.date() - now.date()).days
    clock = f"{moment:%H:%M}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days < 7:
        return f"on {moment:%A} at {clock}"
    return f"on {moment:%Y-%m-%d} at {clock}"

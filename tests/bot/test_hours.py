"""Business hours: parsing, open/closed (overnight ranges, 24:00, holidays, DST), the next opening,
and what a handing-off turn says when nobody can answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ConfigError
from bot.hours import DEFAULT_OFFLINE, parse_hours
from bot.rules import Rule, apply_rules
from bot.types import BotProfile, BotServices, TurnContext

PARIS = ZoneInfo("Europe/Paris")
HOURS = {
    "timezone": "Europe/Paris",
    "weekly": {"mon": ["09:00-12:30", "13:30-18:00"], "tue": ["09:00-18:00"], "wed": ["09:00-18:00"],
               "thu": ["09:00-18:00"], "fri": ["22:00-02:00"], "sat": ["10:00-24:00"]},
    "holidays": ["2026-12-25"],
    "offline_message": "Closed ({{ reason }}). Back {{ next_open_text }}. {{ bot.name }}",
}


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_hours_round_trip_and_defaults() -> None:
    hours = parse_hours(HOURS)
    assert hours.to_dict() == {**HOURS, "require_agent_online": True, "holidays": ["2026-12-25"]}
    bare = parse_hours({})
    assert bare.timezone == "UTC" and bare.weekly == {} and bare.offline_message == DEFAULT_OFFLINE


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (paris(2026, 12, 7, 9, 0), True),  # Monday opening minute
        (paris(2026, 12, 7, 12, 45), False),  # lunch break
        (paris(2026, 12, 7, 18, 0), False),  # the end is excluded
        (paris(2026, 12, 6, 12, 0), False),  # Sunday: no hours
        (paris(2026, 12, 11, 23, 0), True),  # Friday 22:00-02:00
        (paris(2026, 12, 12, 1, 30), True),  # ... past midnight, into Saturday
        (paris(2026, 12, 12, 2, 0), False),
        (paris(2026, 12, 12, 23, 59), True),  # Saturday until 24:00
        (paris(2026, 12, 13, 0, 0), False),
        (paris(2026, 12, 25, 10, 0), False),  # a Friday that is a holiday
        (datetime(2026, 12, 7, 8, 30, tzinfo=UTC), True),  # 09:30 in Paris
    ],
)
def test_is_open_at(moment: datetime, is_open: bool) -> None:
    assert parse_hours(HOURS).is_open_at(moment) is is_open


def test_wall_clock_hours_hold_across_a_dst_change() -> None:
    hours = parse_hours({"timezone": "Europe/Paris", "weekly": {"sun": ["09:00-17:00"]}})
    assert hours.is_open_at(paris(2026, 3, 29, 9, 0))  # the Sunday clocks go forward
    assert not hours.is_open_at(paris(2026, 3, 29, 8, 59))
    assert hours.is_open_at(paris(2026, 10, 25, 16, 59))  # and back


def test_availability_gives_the_reason_and_the_next_opening() -> None:
    hours = parse_hours(HOURS)
    closed = hours.availability(paris(2026, 12, 6, 12, 0), None)
    assert not closed.open and closed.reason == "closed: Sun 12:00 Europe/Paris is outside business hours"
    assert closed.next_open == paris(2026, 12, 7, 9, 0)
    holiday = hours.availability(paris(2026, 12, 25, 10, 0), None)
    assert holiday.reason == "closed: 2026-12-25 is a holiday" and holiday.next_open == paris(2026, 12, 26, 10, 0)
    assert hours.availability(paris(2026, 12, 7, 10, 0), None).open  # presence not tracked: open
    assert hours.availability(paris(2026, 12, 7, 10, 0), lambda: True).open
    nobody = hours.availability(paris(2026, 12, 7, 10, 0), lambda: False)
    assert not nobody.open and nobody.reason == "no agent online"
    relaxed = parse_hours({**HOURS, "require_agent_online": False})
    assert relaxed.availability(paris(2026, 12, 7, 10, 0), lambda: False).open
    assert parse_hours({"weekly": {}}).next_open(paris(2026, 1, 1, 0, 0)) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "hours must be a JSON object"),
        ({"colour": 1}, "unknown field(s) ['colour']"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"weekly": {"mon": "09:00-17:00"}}, "hours.weekly.mon must be a list"),
        ({"weekly": {"funday": []}}, "unknown day(s) ['funday']"),
        ({"weekly": {"mon": ["9-5"]}}, "'9' is not a time of day"),
        ({"weekly": {"mon": ["09:00"]}}, "must look like '09:00-17:30'"),
        ({"weekly": {"mon": ["09:00-09:00"]}}, "is an empty range"),
        ({"weekly": {"mon": ["09:00-13:00", "12:00-18:00"]}}, "ranges overlap"),
        ({"holidays": ["25/12/2026"]}, "is not a date like 2026-12-25"),
        ({"offline_message": "{{ broken"}, "bad template in hours.offline_message"),
        ({"offline_message": ""}, "offline_message must be a non-empty template"),
        ({"require_agent_online": "yes"}, "require_agent_online must be true or false"),
    ],
)
def test_bad_hours_are_refused(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hours(data)
    assert message in str(caught.value)


def bot(agents_online: bool | None = None, **hours: Any) -> BotProfile:
    parsed = parse_hours({**HOURS, **hours})
    online = None if agents_online is None else (lambda: agents_online)
    return BotProfile(slug="shop", name="Shop", timezone=parsed.timezone, hours=parsed,
                      services=BotServices(agents_online=online))


HANDOFF = Rule("human", {"keywords": ["person"]}, [{"handoff": True}])
SORRY = Rule("sorry", {"keywords": ["person"]}, [{"reply": "Let me get someone."}, {"handoff": True}])


def test_a_handoff_outside_hours_says_the_offline_message_and_still_hands_off() -> None:
    ctx = TurnContext(bot=bot(), text="a person please", now=paris(2026, 12, 6, 12, 0))
    apply_rules([HANDOFF], ctx)
    assert ctx.reply == ("Closed (closed: Sun 12:00 Europe/Paris is outside business hours). "
                         "Back tomorrow at 09:00. Shop")
    assert ctx.trace.handoff and ctx.trace.handoff_reason == "rule:human"
    assert ctx.trace.offline == "closed: Sun 12:00 Europe/Paris is outside business hours"


def test_the_offline_message_follows_a_rule_s_own_reply() -> None:
    ctx = TurnContext(bot=bot(agents_online=False), text="a person please", now=paris(2026, 12, 7, 10, 0))
    apply_rules([SORRY], ctx)
    assert ctx.reply == "Let me get someone.\n\nClosed (no agent online). Back . Shop"
    assert ctx.trace.offline == "no agent online"


def test_within_hours_with_an_agent_online_the_handoff_is_unchanged() -> None:
    ctx = TurnContext(bot=bot(agents_online=True), text="a person please", now=paris(2026, 12, 7, 10, 0))
    apply_rules([HANDOFF], ctx)
    assert ctx.reply == ctx.bot.handoff and ctx.trace.offline is None
    no_hours = TurnContext(bot=BotProfile(slug="s", name="S"), text="a person please")
    apply_rules([HANDOFF], no_hours)
    assert no_hours.reply == no_hours.bot.handoff and no_hours.trace.offline is None


def test_the_low_confidence_handoff_gets_the_offline_message_too(make_runtime) -> None:  # type: ignore[no-untyped-def]
    from bot.types import Turn

    runtime = make_runtime()
    runtime.profile = bot(weekly={})  # never open, whatever the clock says
    history = [Turn("customer", "qwzx"), Turn("bot", runtime.profile.fallback, fallback=True)]
    reply = runtime.answer("zzqx vvbn", history)
    assert reply.trace.handoff and reply.trace.handoff_reason == "low_confidence"
    assert reply.trace.offline is not None and reply.text.startswith("Closed (")


def test_a_broken_presence_check_keeps_the_handoff() -> None:
    def broken() -> bool:
        raise RuntimeError("database down")

    profile = bot()
    profile.services = BotServices(agents_online=broken)
    ctx = TurnContext(bot=profile, text="a person please", now=paris(2026, 12, 7, 10, 0))
    apply_rules([HANDOFF], ctx)
    assert ctx.reply == profile.handoff and ctx.trace.handoff
    assert ctx.trace.offline == "check failed: RuntimeError"


def test_the_bot_timezone_is_the_default_for_time_conditions_and_now() -> None:
    rule = Rule("evening", {"time": {"hours": "18:00-23:00"}}, [{"reply": "{{ now.strftime('%H:%M %Z') }}"}])
    ctx = TurnContext(bot=bot(), text="hi", now=datetime(2026, 12, 7, 18, 30, tzinfo=UTC))  # 19:30 in Paris
    apply_rules([rule], ctx)
    assert ctx.reply == "19:30 CET"
    [reason] = ctx.trace.rule_reasons
    assert reason.startswith("✓ time: Mon 19:30 Europe/Paris is within") and reason.endswith("18:00-23:00")


def test_a_streamed_answer_that_hands_off_is_followed_by_the_offline_message(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rule = Rule("ship", {"keywords": ["shipping"]}, [{"handoff": True}, {"knowledge": True}])
    runtime = make_runtime(rules=[rule])
    runtime.profile = bot(weekly={})  # never open
    pieces: list[str] = []
    reply = runtime.answer("How long does shipping take?", emit=pieces.append)
    assert reply.trace.handoff and reply.trace.offline is not None and not reply.fallback
    answer, offline = reply.text.split("\n\nClosed (")
    assert "shipping" in answer.lower() and offline.endswith("outside business hours). Back . Shop")
    assert "".join(pieces) == reply.text  # what was streamed is what is stored

"""The "when" part of a reply rule: conditions, each checked with a one-line reason.

A rule's `when` is a JSON object; every key is one condition and all must hold. Each check
returns a `Check` with the reason it passed or failed, shown in the console's dry run and
stored on the reply's trace. Docs with an example of each: docs/rules.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import language, sentiment
from bot.errors import ConfigError
from bot.types import TurnContext

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SENTIMENT_LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Check:
    """The outcome of one condition for one turn."""

    kind: str
    passed: bool
    reason: str

    def line(self) -> str:
        """'✓ reason' or '✗ reason'."""
        return f"{'✓' if self.passed else '✗'} {self.kind}: {self.reason}"


class Condition(Protocol):
    """One condition of a rule."""

    kind: str

    def check(self, ctx: TurnContext) -> Check:
        """Whether it holds for this turn, and why."""


def message_count(ctx: TurnContext) -> int:
    """Customer messages in the conversation, this one included."""
    if ctx.state.message_count > 0:
        return ctx.state.message_count
    return sum(t.role == "customer" for t in ctx.history) + 1


def turn_time(ctx: TurnContext, zone: ZoneInfo) -> datetime:
    """The turn's moment in a timezone."""
    now = ctx.now or datetime.now(zone)
    return now.astimezone(zone) if now.tzinfo else now.replace(tzinfo=zone)


@dataclass
class IntentIs:
    """The classifier's intent is one of `intents` with at least `min_confidence`."""

    intents: list[str]
    min_confidence: float
    kind: str = "intent"

    def check(self, ctx: TurnContext) -> Check:
        wanted = " or ".join(repr(i) for i in self.intents)
        got = f"intent {ctx.intent!r} at {ctx.confidence:.2f}"
        if ctx.intent not in self.intents:
            return Check(self.kind, False, f"{got}; wants {wanted}")
        if ctx.confidence < self.min_confidence:
            return Check(self.kind, False, f"{got} is below {self.min_confidence:.2f}")
        return Check(self.kind, True, f"{got} ≥ {self.min_confidence:.2f}")


@dataclass
class HasKeyword:
    """Any of the keywords appears in the message (case-insensitive substring)."""

    keywords: list[str]
    kind: str = "keywords"

    def check(self, ctx: TurnContext) -> Check:
        lowered = ctx.text.lower()
        found = [k for k in self.keywords if k.lower() in lowered]
        if found:
            return Check(self.kind, True, f"found {found[0]!r}")
        return Check(self.kind, False, f"none of {self.keywords} in the message")


@dataclass
class MatchesRegex:
    """The regular expression finds a match in the message (case-insensitive)."""

    pattern: str
    kind: str = "regex"

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern, re.IGNORECASE)

    def check(self, ctx: TurnContext) -> Check:
        match = self.regex.search(ctx.text)
        if match:
            return Check(self.kind, True, f"/{self.pattern}/ matched {match.group(0)[:60]!r}")
        return Check(self.kind, False, f"/{self.pattern}/ found nothing")


@dataclass
class OnChannel:
    """The conversation's channel is one of these."""

    channels: list[str]
    kind: str = "channels"

    def check(self, ctx: TurnContext) -> Check:
        passed = ctx.channel in self.channels
        return Check(self.kind, passed, f"channel {ctx.channel!r} {'is' if passed else 'is not'} in {self.channels}")


@dataclass
class InLanguage:
    """The message's detected language is one of these (bot/language.py)."""

    languages: list[str]
    kind: str = "languages"

    def check(self, ctx: TurnContext) -> Check:
        found = language.detect(ctx.text, ctx.locale)
        passed = found.language in self.languages
        verb = "is" if passed else "is not"
        return Check(self.kind, passed, f"language {found.language!r} ({found.reason}) {verb} in {self.languages}")


@dataclass
class ValueTest:
    """A test of one named value: equals / in / exists."""

    op: str  # equals | in | exists
    operand: Any

    def run(self, present: bool, value: Any) -> tuple[bool, str]:
        """(passed, what was seen)."""
        seen = f"is {value!r}" if present else "is not set"
        if self.op == "exists":
            return present == bool(self.operand), seen
        if self.op == "in":
            return present and value in self.operand, seen
        return present and value == self.operand, seen

    def describe(self) -> str:
        """How the business wrote it, for reasons."""
        if self.op == "exists":
            return "to be set" if self.operand else "to be unset"
        return f"{'in ' if self.op == 'in' else '= '}{self.operand!r}"


@dataclass
class ValuesMatch:
    """Named values (customer attributes, or slots collected earlier) pass their tests."""

    source: str  # attributes | slots
    tests: dict[str, ValueTest]

    @property
    def kind(self) -> str:
        return self.source

    def check(self, ctx: TurnContext) -> Check:
        values = ctx.state.attributes if self.source == "attributes" else ctx.state.slots
        reasons, passed = [], True
        for name, test in self.tests.items():
            ok, seen = test.run(name in values, values.get(name))
            passed = passed and ok
            reasons.append(f"{name} {seen}, wants {test.describe()}")
        return Check(self.kind, passed, "; ".join(reasons))


@dataclass
class InTimeWindow:
    """The turn falls on one of `days` between `start` and `end` in a timezone."""

    days: list[str]
    start: time
    end: time
    timezone: str | None  # None: the bot's timezone
    kind: str = "time"

    def check(self, ctx: TurnContext) -> Check:
        zone_name = self.timezone or ctx.bot.timezone
        now = turn_time(ctx, ZoneInfo(zone_name))
        day = DAYS[now.weekday()]
        clock = now.time().replace(tzinfo=None)
        overnight = self.start > self.end  # a window such as 22:00-06:00
        in_hours = (clock >= self.start or clock < self.end) if overnight else self.start <= clock < self.end
        passed = day in self.days and in_hours
        window = f"{','.join(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"
        verb = "is within" if passed else "is outside"
        return Check(self.kind, passed, f"{now:%a %H:%M} {zone_name} {verb} {window}")


@dataclass
class CountBetween:
    """The number of customer messages in the conversation is within [min, max]."""

    low: int | None
    high: int | None
    kind: str = "message_count"

    def check(self, ctx: TurnContext) -> Check:
        count = message_count(ctx)
        passed = (self.low is None or count >= self.low) and (self.high is None or count <= self.high)
        bounds = f"[{'' if self.low is None else self.low}, {'' if self.high is None else self.high}]"
        return Check(self.kind, passed, f"message {count} {'is' if passed else 'is not'} in {bounds}")


@dataclass
class SentimentIs:
    """The lexicon sentiment (bot/sentiment.py) has this label, or a score within [min, max]."""

    label: str | None
    low: float | None
    high: float | None
    kind: str = "sentiment"

    def check(self, ctx: TurnContext) -> Check:
        found = sentiment.score(ctx.text)
        seen = f"{found.label} ({found.score:+.2f}{'; ' + ', '.join(found.evidence) if found.evidence else ''})"
        if self.label is not None:
            passed = found.label == self.label
            wanted = self.label
        else:
            passed = (self.low is None or found.score >= self.low) and (self.high is None or found.score <= self.high)
            low, high = -1.0 if self.low is None else self.low, 1.0 if self.high is None else self.high
            wanted = f"a score in [{low}, {high}]"
        return Check(self.kind, passed, f"{seen}; wants {wanted}")


# ---- parsing ------------------------------------------------------------------------------------
Parser = Callable[[str, dict[str, Any]], Condition]


def _strings(rule: str, key: str, value: Any, *, one_ok: bool = False) -> list[str]:
    if one_ok and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"rule {rule!r}: {key} must be a non-empty list of non-empty strings")
    return [v.strip() for v in value]


def _number(rule: str, key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"rule {rule!r}: {key} must be a number from {low} to {high}")
    return float(value)


def _intent(rule: str, when: dict[str, Any]) -> Condition:
    confidence = _number(rule, "min_confidence", when.get("min_confidence", 0.0), 0, 1)
    return IntentIs(_strings(rule, "intent", when["intent"], one_ok=True), confidence)


def value_test(rule: str, where: str, spec: Any) -> ValueTest:
    """Parse one attribute/slot test: a plain value (equals) or {"equals"|"in"|"exists": ...}."""
    if not isinstance(spec, dict):
        if spec is None or isinstance(spec, list):
            raise ConfigError(f"rule {rule!r}: {where} must be a value or an object with equals, in or exists")
        return ValueTest("equals", spec)
    if len(spec) != 1 or next(iter(spec)) not in ("equals", "in", "exists"):
        raise ConfigError(f"rule {rule!r}: {where} must have exactly one of equals, in or exists; got {sorted(spec)}")
    op, operand = next(iter(spec.items()))
    if op == "in" and (not isinstance(operand, list) or not operand):
        raise ConfigError(f"rule {rule!r}: {where}.in must be a non-empty list")
    if op == "exists" and not isinstance(operand, bool):
        raise ConfigError(f"rule {rule!r}: {where}.exists must be true or false")
    return ValueTest(op, operand)


def _values(source: str) -> Parser:
    def parse(rule: str, when: dict[str, Any]) -> Condition:
        spec = when[source]
        if not isinstance(spec, dict) or not spec:
            raise ConfigError(f"rule {rule!r}: {source} must be an object of name -> test")
        return ValuesMatch(source, {name: value_test(rule, f"{source}.{name}", t) for name, t in spec.items()})

    return parse


def _clock(rule: str, text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"rule {rule!r}: {text!r} is not a time of day like 09:00") from exc


def _time(rule: str, when: dict[str, Any]) -> Condition:
    spec = when["time"]
    if not isinstance(spec, dict) or set(spec) - {"days", "hours", "timezone"} or not spec:
        raise ConfigError(f"rule {rule!r}: time takes days, hours and timezone")
    named = _strings(rule, "time.days", spec.get("days", list(DAYS)))
    unknown = [d for d in named if d.lower() not in DAYS and d.lower() not in _DAY_NAMES]
    if unknown:
        raise ConfigError(f"rule {rule!r}: unknown day(s) {unknown}; use {list(DAYS)}")
    days = [d.lower()[:3] for d in named]
    hours = spec.get("hours", "00:00-24:00")
    parts = hours.split("-") if isinstance(hours, str) else []
    if len(parts) != 2:
        raise ConfigError(f"rule {rule!r}: time.hours must look like '09:00-17:30'")
    start = _clock(rule, parts[0].strip())
    end = time.max if parts[1].strip() == "24:00" else _clock(rule, parts[1].strip())
    if start == end:
        raise ConfigError(f"rule {rule!r}: time.hours {hours!r} is an empty window")
    zone = spec.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ConfigError(f"rule {rule!r}: unknown timezone {zone!r} (use an IANA name like Europe/Paris)") from exc
    return InTimeWindow(days, start, end, zone)


def _bounds(rule: str, key: str, spec: Any, low: float, high: float, integer: bool) -> tuple[Any, Any]:
    if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max"}:
        raise ConfigError(f"rule {rule!r}: {key} must be an object with min and/or max")
    values = []
    for bound in ("min", "max"):
        value = spec.get(bound)
        if value is not None:
            value = _number(rule, f"{key}.{bound}", value, low, high)
            if integer and value != int(value):
                raise ConfigError(f"rule {rule!r}: {key}.{bound} must be a whole number")
            value = int(value) if integer else value
        values.append(value)
    return values[0], values[1]


def _message_count(rule: str, when: dict[str, Any]) -> Condition:
    low, high = _bounds(rule, "message_count", when["message_count"], 1, 10**9, True)
    return CountBetween(low, high)


def _sentiment(rule: str, when: dict[str, Any]) -> Condition:
    spec = when["sentiment"]
    if isinstance(spec, str):
        if spec not in SENTIMENT_LABELS:
            raise ConfigError(f"rule {rule!r}: sentiment must be one of {list(SENTIMENT_LABELS)} or {{min, max}}")
        return SentimentIs(spec, None, None)
    low, high = _bounds(rule, "sentiment", spec, -1, 1, False)
    return SentimentIs(None, low, high)


def _regex(rule: str, when: dict[str, Any]) -> Condition:
    pattern = when["regex"]
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"rule {rule!r}: regex must be a non-empty string")
    try:
        return MatchesRegex(pattern)
    except re.error as exc:
        raise ConfigError(f"rule {rule!r}: bad regex {pattern!r}: {exc}") from exc


PARSERS: dict[str, Parser] = {
    "intent": _intent,
    "keywords": lambda rule, when: HasKeyword(_strings(rule, "keywords", when["keywords"])),
    "regex": _regex,
    "channels": lambda rule, when: OnChannel(_strings(rule, "channels", when["channels"], one_ok=True)),
    "languages": lambda rule, when: InLanguage(
        [v.lower() for v in _strings(rule, "languages", when["languages"], one_ok=True)]
    ),
    "attributes": _values("attributes"),
    "slots": _values("slots"),
    "time": _time,
    "message_count": _message_count,
    "sentiment": _sentiment,
}
KEYS = (*PARSERS, "min_confidence")


def parse_when(rule: str, when: Any) -> list[Condition]:
    """Build a rule's conditions from its `when` object; ConfigError names what is wrong."""
    if not isinstance(when, dict):
        raise ConfigError(f"rule {rule!r}: when must be an object of conditions")
    unknown = sorted(set(when) - set(KEYS))
    if unknown:
        raise ConfigError(f"rule {rule!r}: unknown condition(s) {unknown}; known: {sorted(KEYS)}")
    if "min_confidence" in when and "intent" not in when:
        raise ConfigError(f"rule {rule!r}: min_confidence needs an intent")
    return [PARSERS[key](rule, when) for key in PARSERS if key in when]

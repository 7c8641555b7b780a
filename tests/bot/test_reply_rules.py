"""Reply rules: conditions, priority, validation and the sandboxed reply template."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from bot.errors import ConfigError
from bot.rules import Rule, first_match
from bot.types import BotProfile, TurnContext

BOT = BotProfile(slug="acme", name="Acme")


def turn(text: str = "hello", intent: str | None = None, confidence: float = 0.0) -> TurnContext:
    return TurnContext(bot=BOT, text=text, intent=intent, confidence=confidence)


@pytest.mark.parametrize(
    ("intent", "confidence", "expected"),
    [
        ("refund", 0.8, True),
        ("refund", 0.6, True),
        ("refund", 0.59, False),
        ("shipping", 0.99, False),
        (None, 1, False),
    ],
)
def test_intent_rule_needs_the_intent_at_min_confidence(
    intent: str | None, confidence: float, expected: bool
) -> None:
    rule = Rule(name="refund", reply="Refunds take 7 days.", intent="refund", min_confidence=0.6)

    assert rule.matches(turn("I want my money back", intent, confidence)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Where is my PARCEL?", True), ("track my order", True), ("hello there", False)],
)
def test_keywords_match_case_insensitively_any_of_them(text: str, expected: bool) -> None:
    rule = Rule(name="where", reply="Check your email.", keywords=["Parcel", "track"])

    assert rule.matches(turn(text)) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("my order #A12345", True), ("ORDER a99999 please", True), ("A123", False)],
)
def test_pattern_is_a_case_insensitive_search(text: str, expected: bool) -> None:
    rule = Rule(name="order-id", reply="Looking it up.", pattern=r"\bA\d{5}\b")

    assert rule.matches(turn(text)) is expected


def test_every_condition_must_hold() -> None:
    rule = Rule(name="both", reply="x", intent="refund", keywords=["card"])

    assert rule.matches(turn("refund to my card", "refund", 0.9))
    assert not rule.matches(turn("refund to my bank", "refund", 0.9))
    assert not rule.matches(turn("refund to my card", "shipping", 0.9))


def test_first_match_takes_the_lowest_priority_number_whatever_the_list_order() -> None:
    late = Rule(name="late", reply="late", keywords=["order"], priority=50)
    early = Rule(name="early", reply="early", keywords=["order"], priority=10)
    other = Rule(name="other", reply="other", keywords=["refund"], priority=1)

    assert first_match([late, other, early], turn("my order")) is early
    assert first_match([late, other, early], turn("nothing relevant")) is None


def test_disabled_rules_never_match() -> None:
    off = Rule(name="off", reply="off", keywords=["order"], priority=1, enabled=False)
    on = Rule(name="on", reply="on", keywords=["order"], priority=2)

    assert not off.matches(turn("order"))
    assert first_match([off, on], turn("order")) is on


def test_a_rule_without_conditions_is_refused() -> None:
    with pytest.raises(ConfigError, match="'empty'.*intent, keywords or a pattern"):
        Rule(name="empty", reply="hi")


def test_a_bad_regex_is_a_config_error_naming_the_rule() -> None:
    with pytest.raises(ConfigError, match="'broken'"):
        Rule(name="broken", reply="x", pattern="(unclosed")


def test_a_bad_template_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'tpl'"):
        Rule(name="tpl", reply="Hello {{ bot.name ", keywords=["hi"])


def test_from_dict_refuses_unknown_fields_and_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        Rule.from_dict({"name": "x", "reply": "y", "keywords": ["a"], "keyword": ["b"]})

    message = str(caught.value)
    assert "'keyword'" in message
    for allowed in ("keywords", "pattern", "priority", "min_confidence"):
        assert allowed in message


def test_from_dict_builds_a_working_rule() -> None:
    rule = Rule.from_dict({"name": "hours", "reply": "9 to 5", "keywords": ["open"], "priority": 5})

    assert (rule.name, rule.priority) == ("hours", 5)
    assert rule.matches(turn("when are you open"))


def test_from_dict_without_a_reply_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Rule.from_dict({"name": "x", "keywords": ["a"]})


def test_keywords_given_as_a_string_do_not_match_every_message() -> None:
    try:
        rule = Rule.from_dict({"name": "x", "reply": "y", "keywords": "refund"})
    except ConfigError:
        return
    assert not rule.matches(turn("where is my order"))


def test_render_sees_the_bot_message_and_intent() -> None:
    rule = Rule(
        name="t", reply="  {{ bot.name }} heard '{{ message }}' ({{ intent }})  ", keywords=["hi"]
    )

    assert rule.render(turn("hi there", "greet", 1.0)) == "Acme heard 'hi there' (greet)"


def test_render_does_not_escape_html_since_channels_escape() -> None:
    rule = Rule(name="t", reply="{{ message }}", keywords=["<"])

    assert rule.render(turn("<b>x</b> & y")) == "<b>x</b> & y"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ message.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ bot.__class__.__init__.__globals__['__builtins__'] }}",
        "{{ message.format.__globals__ }}",
        "{{ bot.__dict__ }}",
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_the_template_sandbox_keeps_python_internals_out_of_reach(template: str) -> None:
    rule = Rule(name="evil", reply=template, keywords=["hi"])

    try:
        rendered = rule.render(turn("hi"))
    except SecurityError:
        return
    assert rendered == ""

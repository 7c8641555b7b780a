"""Rule conditions (bot/conditions.py): each kind passes and fails with a reason, and bad JSON is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.rules import Rule
from bot.types import BotProfile, ConversationState, Turn, TurnContext

BOT = BotProfile(slug="acme", name="Acme", timezone="America/New_York")


def ctx(text: str = "hello", **fields: Any) -> TurnContext:
    return TurnContext(bot=BOT, text=text, **fields)


def check(when: dict[str, Any], turn: TurnContext) -> tuple[bool, str]:
    """(passed, reason) of a rule with only this condition."""
    [result] = Rule("r", when, [{"reply": "x"}]).evaluate(turn).checks
    return result.passed, result.reason


def test_intent_needs_one_of_the_intents_at_the_confidence() -> None:
    when = {"intent": ["refund", "returns"], "min_confidence": 0.6}
    assert check(when, ctx(intent="returns", confidence=0.7)) == (True, "intent 'returns' at 0.70 ≥ 0.60")
    passed, reason = check(when, ctx(intent="returns", confidence=0.5))
    assert not passed and "below 0.60" in reason
    passed, reason = check(when, ctx(intent="shipping", confidence=0.99))
    assert not passed and "wants 'refund' or 'returns'" in reason


def test_keywords_and_regex() -> None:
    assert check({"keywords": ["Parcel"]}, ctx("where is my PARCEL")) == (True, "found 'Parcel'")
    assert not check({"keywords": ["parcel"]}, ctx("hello"))[0]
    passed, reason = check({"regex": r"\bNW-\d{6}\b"}, ctx("order nw-123456 please"))
    assert passed and "'nw-123456'" in reason
    assert not check({"regex": r"\bNW-\d{6}\b"}, ctx("NW-12"))[0]


def test_channels_and_languages() -> None:
    assert check({"channels": ["telegram", "web"]}, ctx(channel="web"))[0]
    passed, reason = check({"channels": "telegram"}, ctx(channel="web"))
    assert not passed and "'web' is not in ['telegram']" in reason
    assert check({"languages": ["zh"]}, ctx("我的订单到哪了"))[0]
    passed, reason = check({"languages": ["zh"]}, ctx("Where is my order?"))
    assert not passed and "'en'" in reason
    assert check({"languages": ["fr"]}, ctx("NW-123456", locale="fr-CA"))[0]  # no signal in the text: the locale


def test_customer_attributes_equal_in_exists() -> None:
    state = ConversationState(attributes={"plan": "pro", "country": "CA", "tags": ["vip"]})
    turn = ctx(state=state)
    assert check({"attributes": {"plan": "pro"}}, turn)[0]
    assert check({"attributes": {"plan": {"equals": "pro"}, "country": {"in": ["US", "CA"]}}}, turn)[0]
    assert check({"attributes": {"email": {"exists": False}}}, turn)[0]
    passed, reason = check({"attributes": {"email": {"exists": True}}}, turn)
    assert not passed and reason == "email is not set, wants to be set"
    passed, reason = check({"attributes": {"plan": "free", "country": {"in": ["US"]}}}, turn)
    assert not passed and "plan is 'pro', wants = 'free'" in reason and "country is 'CA'" in reason


def test_slot_values_from_earlier_flows() -> None:
    turn = ctx(state=ConversationState(flow={"slots": {"order_number": "NW-123456"}}))
    assert check({"slots": {"order_number": {"exists": True}}}, turn)[0]
    assert not check({"slots": {"email": {"exists": True}}}, turn)[0]
    assert not check({"slots": {"order_number": "NW-1"}}, ctx())[0]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 3, 4, 14, 0, tzinfo=UTC), True),  # Tue 09:00 in New York
        (datetime(2025, 3, 4, 13, 59, tzinfo=UTC), False),  # Tue 08:59
        (datetime(2025, 3, 4, 22, 0, tzinfo=UTC), False),  # Tue 17:00: the end is excluded
        (datetime(2025, 3, 8, 15, 0, tzinfo=UTC), False),  # Saturday
    ],
)
def test_time_window_in_the_bots_timezone(moment: datetime, expected: bool) -> None:
    when = {"time": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00"}}
    passed, reason = check(when, ctx(now=moment))
    assert passed is expected
    assert "America/New_York" in reason


def test_time_window_with_its_own_timezone_and_overnight_hours() -> None:
    when = {"time": {"hours": "22:00-06:00", "timezone": "Asia/Shanghai"}}
    assert check(when, ctx(now=datetime(2025, 3, 4, 15, 30, tzinfo=UTC)))[0]  # 23:30 in Shanghai
    assert not check(when, ctx(now=datetime(2025, 3, 4, 4, 0, tzinfo=UTC)))[0]  # 12:00 in Shanghai


def test_message_count_counts_customer_messages() -> None:
    history = [Turn("customer", "a"), Turn("bot", "b"), Turn("customer", "c"), Turn("bot", "d")]
    assert check({"message_count": {"min": 3}}, ctx(history=history))[0]  # this is the third
    assert not check({"message_count": {"max": 2}}, ctx(history=history))[0]
    passed, reason = check({"message_count": {"max": 1}}, ctx(state=ConversationState(message_count=7)))
    assert not passed and reason == "message 7 is not in [, 1]"


def test_sentiment_label_and_score_range() -> None:
    passed, reason = check({"sentiment": "negative"}, ctx("This is terrible, I'm so angry!"))
    assert passed and "terrible" in reason
    assert not check({"sentiment": "negative"}, ctx("Where is my order?"))[0]
    assert check({"sentiment": {"min": 0.3}}, ctx("thanks, great help"))[0]
    assert check({"sentiment": "negative"}, ctx("太差了，我要投诉"))[0]


def test_every_condition_must_hold_and_each_has_a_reason() -> None:
    rule = Rule("both", {"keywords": ["refund"], "channels": ["web"]}, [{"reply": "x"}])
    evaluation = rule.evaluate(ctx("refund please", channel="telegram"))
    assert not evaluation.matched
    assert [c.passed for c in evaluation.checks] == [True, False]
    assert evaluation.reasons()[0].startswith("✓ keywords") and evaluation.reasons()[1].startswith("✗ channels")


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"keyword": ["x"]}, "unknown condition(s) ['keyword']"),
        ({"regex": "(unclosed"}, "bad regex"),
        ({"min_confidence": 0.5, "keywords": ["x"]}, "min_confidence needs an intent"),
        ({"intent": "x", "min_confidence": 2}, "min_confidence must be a number from 0 to 1"),
        ({"keywords": "refund"}, "keywords must be a non-empty list"),
        ({"time": {"days": ["funday"]}}, "unknown day(s) ['funday']"),
        ({"time": {"hours": "9-5"}}, "not a time of day"),
        ({"time": {"timezone": "Mars/Olympus"}}, "unknown timezone 'Mars/Olympus'"),
        ({"attributes": {"plan": {"like": "p"}}}, "exactly one of equals, in or exists"),
        ({"message_count": {"min": 0}}, "message_count.min must be a number from 1"),
        ({"sentiment": "grumpy"}, "sentiment must be one of"),
        ({}, "needs a condition"),
    ],
)
def test_bad_conditions_are_config_errors_that_say_what_is_wrong(when: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Rule("bad", when, [{"reply": "x"}])
    assert message in str(caught.value) and "'bad'" in str(caught.value)

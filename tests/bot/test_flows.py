"""Slot filling (bot/flows.py): collect slots over turns, re-ask, give up, cancel, then run the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.flows import parse_ask_slots
from bot.rules import Rule
from bot.runtime import BotRuntime
from bot.types import ConversationState

ORDER_FLOW = {
    "when": {"keywords": ["order status"]},
    "then": [
        {"reply": "Let's look it up."},
        {"ask_slots": {
            "slots": [
                {"name": "order", "type": "order_number", "prompt": "Your order number?",
                 "reask": "Order numbers look like NW-123456. Your order number?", "max_reasks": 1},
                {"name": "email", "type": "email", "prompt": "And the email you ordered with?"},
            ],
            "cancelled": "Stopped.",
            "give_up": "Let's stop here.",
            "give_up_handoff": True,
        }},
        {"set_attribute": {"name": "email", "value": "{{ slots.email }}"}},
        {"reply": "Checking {{ slots.order }} for {{ slots.email }}."},
        {"quick_replies": ["Thanks"]},
    ],
}


@pytest.fixture
def runtime(make_runtime) -> BotRuntime:  # type: ignore[no-untyped-def]
    return make_runtime(rules=[Rule.from_dict({"name": "order_status", **ORDER_FLOW})])


def say(runtime: BotRuntime, state: ConversationState, text: str):  # type: ignore[no-untyped-def]
    """One turn on a copy of the stored state (as the server does), returning the reply and new state."""
    reply = runtime.answer(text, state=copy.deepcopy(state))
    assert reply.state is not None
    return reply, reply.state


def test_a_flow_collects_slots_over_turns_then_runs_the_remaining_actions(runtime: BotRuntime) -> None:
    state = ConversationState()
    first, state = say(runtime, state, "what's my order status?")
    assert first.text == "Let's look it up.\n\nYour order number?"
    assert state.active_flow == {"rule": "order_status", "action": 1, "asking": "order", "collected": {}, "reasks": 0}
    assert [s["step"] for s in first.trace.flow] == ["started", "asking"]

    second, state = say(runtime, state, "it's nw-123456")
    assert second.text == "And the email you ordered with?"
    assert state.active_flow["collected"] == {"order": "NW-123456"}
    assert second.trace.flow[0] == {"step": "filled", "slot": "order", "value": "NW-123456"}
    assert [s.stage for s in second.trace.stages] == ["intent", "rules"]

    third, state = say(runtime, state, "ana@example.com")
    assert third.text == "Checking NW-123456 for ana@example.com."
    assert third.trace.quick_replies == [{"title": "Thanks", "payload": "Thanks"}]
    assert state.active_flow is None and state.slots == {"order": "NW-123456", "email": "ana@example.com"}
    assert state.attributes == {"email": "ana@example.com"}
    assert [s["step"] for s in third.trace.flow] == ["filled", "completed"]


def test_values_in_the_first_message_are_taken_at_once(runtime: BotRuntime) -> None:
    reply, state = say(runtime, ConversationState(), "order status of NW-654321 please")
    assert reply.text == "Let's look it up.\n\nAnd the email you ordered with?"
    assert state.active_flow["collected"] == {"order": "NW-654321"}


def test_bad_input_is_reasked_then_the_flow_gives_up_and_hands_off(runtime: BotRuntime) -> None:
    _, state = say(runtime, ConversationState(), "order status")
    reask, state = say(runtime, state, "I don't know")
    assert reask.text == "Order numbers look like NW-123456. Your order number?"
    assert state.active_flow["reasks"] == 1 and reask.trace.flow[0]["step"] == "invalid"
    give_up, state = say(runtime, state, "still no idea")
    assert give_up.text == "Let's stop here."
    assert give_up.trace.handoff and give_up.trace.handoff_reason == "rule:order_status"
    assert state.flow is None


def test_the_customer_can_cancel_in_english_or_chinese(runtime: BotRuntime) -> None:
    for word in ("Cancel!", "取消"):
        _, state = say(runtime, ConversationState(flow={"slots": {"old": 1}}), "order status")
        reply, state = say(runtime, state, word)
        assert reply.text == "Stopped." and reply.trace.flow == [{"step": "cancelled", "rule": "order_status"}]
        assert state.flow == {"slots": {"old": 1}}  # earlier slots stay, the cancelled flow is gone


def test_an_active_flow_runs_before_rules(make_runtime) -> None:  # type: ignore[no-untyped-def]
    greedy = Rule("greedy", {"regex": "."}, [{"reply": "greedy"}], priority=1)
    flow = Rule.from_dict({"name": "order_status", **ORDER_FLOW, "priority": 2})
    runtime = make_runtime(rules=[greedy, flow])
    state = ConversationState(flow={"active": {"rule": "order_status", "action": 1, "asking": "order",
                                               "collected": {}, "reasks": 0}})
    reply, state = say(runtime, state, "NW-111111")
    assert reply.text == "And the email you ordered with?" and reply.trace.rule == "order_status"


def test_a_flow_whose_rule_is_gone_is_dropped_and_rules_answer(make_runtime) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(rules=[])
    state = ConversationState(flow={"active": {"rule": "deleted", "action": 1, "asking": "x", "collected": {}}})
    reply, state = say(runtime, state, "How long does standard shipping take?")
    assert "5 business days" in reply.text
    assert reply.trace.flow[0]["step"] == "dropped" and state.flow is None


@pytest.mark.parametrize(
    ("slot", "answer", "expected"),
    [
        ({"type": "number", "min": 1, "max": 10}, "about 3 please", (True, 3)),
        ({"type": "number", "min": 1, "max": 10}, "42", (False, None)),
        ({"type": "number"}, "1.5", (True, 1.5)),
        ({"type": "email"}, "mail me at a.b+c@shop.co.uk", (True, "a.b+c@shop.co.uk")),
        ({"type": "email"}, "a@b", (False, None)),
        ({"type": "choice", "choices": ["Small", "Medium", "Large"]}, "2", (True, "Medium")),
        ({"type": "choice", "choices": ["Small", "Medium", "Large"]}, "large", (True, "Large")),
        ({"type": "choice", "choices": ["Small", "Medium", "Large"]}, "huge", (False, None)),
        ({"type": "regex", "pattern": r"\d{5}"}, "zip 12345", (True, "12345")),
        ({"type": "text", "max_length": 5}, "too long here", (False, None)),
        ({"pattern": r"[A-Z]\d"}, "b7", (True, "b7")),
    ],
)
def test_slot_types_validate_and_normalise(slot: dict[str, Any], answer: str, expected: tuple[bool, Any]) -> None:
    action = parse_ask_slots("r", {"slots": [{"name": "s", "prompt": "?", **slot}]})
    ok, value, _ = action.slots[0].parse(answer)
    assert (ok, value) == expected


def test_choice_slots_offer_their_choices_as_quick_replies(make_runtime) -> None:  # type: ignore[no-untyped-def]
    size = Rule("size", {"keywords": ["size"]}, [
        {"ask_slots": {"slots": [{"name": "size", "type": "choice", "choices": ["S", "M"], "prompt": "Which?"}]}},
        {"reply": "Size {{ slots.size }} noted."},
    ])
    runtime = make_runtime(rules=[size])
    reply, state = say(runtime, ConversationState(), "change the size")
    assert reply.trace.quick_replies == [{"title": "S", "payload": "S"}, {"title": "M", "payload": "M"}]
    assert say(runtime, state, "M")[0].text == "Size M noted."


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"slots": []}, "non-empty list"),
        ({"slots": [{"prompt": "?"}]}, "needs a name"),
        ({"slots": [{"name": "a"}]}, "needs a prompt"),
        ({"slots": [{"name": "a", "prompt": "?", "type": "regex"}]}, "needs a pattern"),
        ({"slots": [{"name": "a", "prompt": "?", "type": "choice"}]}, "choices go with"),
        ({"slots": [{"name": "a", "prompt": "?", "pattern": "("}]}, "bad regex"),
        ({"slots": [{"name": "a", "prompt": "?"}, {"name": "a", "prompt": "?"}]}, "unique"),
        ({"slots": [{"name": "a", "prompt": "?", "colour": 1}]}, "unknown field(s) ['colour']"),
        ({"slots": [{"name": "a", "prompt": "?"}], "retry": 1}, "unknown field(s) ['retry']"),
    ],
)
def test_bad_flows_are_config_errors(spec: dict[str, Any], message: str) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_ask_slots("r", spec)
    assert message in str(caught.value)

"""The conversation ownership state machine, every transition, and the triggers in the pipeline."""

from __future__ import annotations

import itertools

import pytest

from bot import handoff
from bot.errors import ConfigError
from bot.handoff import AGENT, BOT, QUEUED, RESOLVED, IllegalTransition, next_status
from bot.intents import OUT_OF_SCOPE
from bot.rules import Rule
from bot.types import Turn

ALLOWED = {
    (BOT, "handoff"): QUEUED,
    (QUEUED, "take"): AGENT,
    (AGENT, "take"): AGENT,
    (QUEUED, "release"): BOT,
    (AGENT, "release"): BOT,
    (QUEUED, "resolve"): RESOLVED,
    (AGENT, "resolve"): RESOLVED,
    (RESOLVED, "reopen"): BOT,
}
REFUSED = sorted(set(itertools.product(handoff.STATUSES, handoff.EVENTS)) - set(ALLOWED))


def test_the_table_is_exactly_the_documented_transitions() -> None:
    assert handoff.TRANSITIONS == ALLOWED


@pytest.mark.parametrize(("status", "event"), sorted(ALLOWED))
def test_allowed_transition(status: str, event: str) -> None:
    assert next_status(status, event) == ALLOWED[(status, event)]


@pytest.mark.parametrize(("status", "event"), REFUSED)
def test_refused_transition_names_the_status_and_what_is_allowed(status: str, event: str) -> None:
    with pytest.raises(IllegalTransition) as refused:
        next_status(status, event)
    assert refused.value.status == status and refused.value.event == event
    assert f"cannot {event} a conversation that is {status!r}" in str(refused.value)


def test_every_pair_is_either_allowed_or_refused() -> None:
    assert len(ALLOWED) + len(REFUSED) == len(handoff.STATUSES) * len(handoff.EVENTS) == 20


def test_unknown_status_or_event_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown conversation status"):
        next_status("closed", "reopen")
    with pytest.raises(ValueError, match="unknown handoff event"):
        next_status(BOT, "escalate")


@pytest.mark.parametrize(("status", "answers"), [(BOT, True), (QUEUED, False), (AGENT, False), (RESOLVED, True)])
def test_the_bot_is_silent_while_a_person_holds_the_conversation(status: str, answers: bool) -> None:
    assert handoff.bot_answers(status) is answers


def oos(text: str = "??") -> Turn:
    return Turn("customer", text, OUT_OF_SCOPE)


def sorry() -> Turn:
    return Turn("bot", "sorry, I don't know", fallback=True)


def test_low_confidence_streak_counts_consecutive_unanswered_turns() -> None:
    history = [Turn("customer", "hi", "greeting"), Turn("bot", "hello"), oos(), sorry()]
    assert handoff.low_confidence_streak(history, True) == 2
    assert handoff.low_confidence_streak(history, False) == 0
    assert handoff.low_confidence_streak(history[:2], True) == 1
    answered = [oos("do you ship to Mars?"), Turn("bot", "We ship to the US, Canada and the EU [1]")]
    assert handoff.low_confidence_streak(answered, True) == 1  # out of scope but answered: no failure


def test_low_confidence_streak_stops_at_a_handoff_or_an_agent_so_reopening_does_not_loop() -> None:
    handed_off = [oos(), sorry(), oos(), Turn("bot", "a person will reply", handoff=True, fallback=True)]
    assert handoff.low_confidence_streak(handed_off, True) == 1
    with_agent = [oos(), sorry(), Turn("agent", "hi, Ana here")]
    assert handoff.low_confidence_streak(with_agent, True) == 1
    queued_silence = [oos(), sorry(), Turn("customer", "hello?")]  # stored while queued, unanswered
    assert handoff.low_confidence_streak(queued_silence, True) == 2


def test_rule_action_defaults_to_reply_and_is_validated() -> None:
    assert Rule(name="hi", reply="Hello", keywords=["hi"]).action == "reply"
    rule = Rule.from_dict({"name": "human", "reply": "OK", "keywords": ["human"], "action": "handoff"})
    assert rule.action == "handoff"
    with pytest.raises(ConfigError, match="unknown action 'escalate'"):
        Rule.from_dict({"name": "human", "reply": "OK", "keywords": ["human"], "action": "escalate"})


class Unsure:
    """An intent classifier that never recognises anything."""

    def predict(self, texts: list[str]) -> list:  # type: ignore[type-arg]
        from types import SimpleNamespace

        return [SimpleNamespace(intent=OUT_OF_SCOPE, confidence=0.1) for _ in texts]


def test_a_handoff_rule_replies_and_records_the_handoff_on_the_trace(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rule = Rule(name="human", reply="Our team: +1-800-555-0199.", keywords=["human"], action="handoff")

    reply = make_runtime(rules=[rule]).answer("I want a human")

    assert reply.text == "Our team: +1-800-555-0199."
    assert (reply.trace.handoff, reply.trace.handoff_reason) == (True, "rule:human")
    assert reply.trace.to_dict()["handoff"] is True


def test_a_reply_rule_does_not_hand_off(make_runtime) -> None:  # type: ignore[no-untyped-def]
    rule = Rule(name="human", reply="Call us.", keywords=["human"])
    assert make_runtime(rules=[rule]).answer("I want a human").trace.handoff is False


def test_two_unanswerable_messages_in_a_row_hand_off(make_runtime, profile) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(intents=Unsure())

    first = runtime.answer("blorp zibble")
    history = [oos("blorp zibble"), Turn("bot", first.text, fallback=first.fallback)]
    second = runtime.answer("quux flarn", history=history)

    assert first.trace.handoff is False and first.fallback is True
    assert (second.trace.handoff, second.trace.handoff_reason) == (True, "low_confidence")
    assert second.text == profile.handoff
    assert [s.stage for s in second.trace.stages] == ["intent", "rules", "retrieve", "handoff"]


def test_an_out_of_scope_question_the_knowledge_answers_does_not_count(make_runtime) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(intents=Unsure())

    first = runtime.answer("How long does standard shipping take?")
    second = runtime.answer("blorp", history=[oos("How long does standard shipping take?"), Turn("bot", first.text)])

    assert first.trace.handoff is False and "5 business days" in first.text
    assert second.trace.handoff is False and second.fallback is True


def test_the_out_of_scope_limit_can_be_switched_off(make_runtime) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(intents=Unsure(), handoff_after_out_of_scope=0)
    assert runtime.answer("blorp", history=[oos(), sorry()]).trace.handoff is False

"""Rule actions, priority, enable/disable, the old JSON shape and the rules stage in the pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.rules import Rule, apply_rules, first_match, from_legacy
from bot.types import BotProfile, ConversationState, TurnContext

BOT = BotProfile(slug="acme", name="Acme")
DEMO_RULES = Path(__file__).resolve().parents[2] / "server" / "demo" / "rules.json"


def rule(name: str, then: list[dict[str, Any]], priority: int = 100, **when: Any) -> Rule:
    return Rule(name, when or {"keywords": ["order"]}, then, priority=priority)


def run(rules: list[Rule], text: str = "my order", **fields: Any) -> TurnContext:
    ctx = TurnContext(bot=BOT, text=text, **fields)
    apply_rules(rules, ctx)
    return ctx


def test_reply_template_sees_every_variable() -> None:
    template = (
        "{{ bot.name }}|{{ message }}|{{ intent }}|{{ '%.1f' % confidence }}|{{ slots.order }}|"
        "{{ attributes.plan }}|{{ tags | join(',') }}|{{ channel }}|{{ now.strftime('%H:%M') }}"
    )
    state = ConversationState(attributes={"plan": "pro", "tags": ["vip"]}, flow={"slots": {"order": "NW-1"}})
    ctx = run([rule("r", [{"reply": template}])], "my order", intent="track", confidence=0.8, channel="slack",
              state=state, now=datetime(2025, 1, 2, 3, 4, tzinfo=UTC))
    assert ctx.reply == "Acme|my order|track|0.8|NW-1|pro|vip|slack|03:04"
    assert ctx.done and ctx.trace.rule == "r" and ctx.trace.actions == ["reply"]


def test_quick_replies_go_on_the_trace_with_the_reply() -> None:
    buttons = [{"title": "Track it", "payload": "track my order"}, "Talk to a person"]
    ctx = run([rule("r", [{"reply": "Pick one"}, {"quick_replies": buttons}])])
    assert ctx.reply == "Pick one"
    assert ctx.trace.quick_replies == [
        {"title": "Track it", "payload": "track my order"},
        {"title": "Talk to a person", "payload": "Talk to a person"},
    ]


def test_handoff_without_a_reply_says_the_bots_handoff_notice() -> None:
    ctx = run([rule("human", [{"handoff": True}])])
    assert ctx.reply == BOT.handoff
    assert (ctx.trace.handoff, ctx.trace.handoff_reason) == (True, "rule:human")


def test_tag_and_set_attribute_change_the_conversation_state() -> None:
    state = ConversationState(attributes={"tags": ["new"]})
    then = [
        {"tag": ["vip", "new"]},
        {"set_attribute": {"name": "last_topic", "value": "{{ message | upper }}"}},
        {"set_attribute": {"name": "score", "value": 3}},
        {"reply": "{{ tags | join(',') }} {{ attributes.last_topic }}"},
    ]
    ctx = run([rule("r", then)], state=state)
    assert state.attributes == {"tags": ["new", "vip"], "last_topic": "MY ORDER", "score": 3}
    assert ctx.reply == "new,vip MY ORDER"


def test_a_rule_that_only_tags_runs_and_lets_the_next_rule_answer() -> None:
    upset = Rule("upset", {"sentiment": "negative"}, [{"tag": "upset"}], priority=1)
    answer = rule("answer", [{"reply": "Sorry about your order."}], priority=2)
    state = ConversationState()
    ctx = run([answer, upset], "this order is terrible", state=state)
    assert ctx.reply == "Sorry about your order." and ctx.trace.rule == "answer"
    assert ctx.trace.rules_applied == ["upset"] and state.attributes["tags"] == ["upset"]
    alone = run([upset], "terrible", state=ConversationState())
    assert not alone.done and alone.reply is None  # nothing answered: the knowledge base will


def test_knowledge_action_streams_the_prefix_and_leaves_the_answer_to_later_stages() -> None:
    emitted: list[str] = []
    then = [{"reply": "About order {{ message[-3:] }}:"}, {"knowledge": {"query": "how to track an order"}}]
    ctx = TurnContext(bot=BOT, text="my order 123", emit=emitted.append)
    apply_rules([rule("r", then)], ctx)
    assert not ctx.done and emitted == ["About order 123:\n\n"]
    assert ctx.text == "how to track an order" and ctx.trace.knowledge_query == "how to track an order"
    ctx.finish("Use the tracking link [1].", stream=False)
    assert ctx.reply == "About order 123:\n\nUse the tracking link [1]."


def test_knowledge_action_in_the_pipeline_answers_from_the_help_center(make_runtime) -> None:  # type: ignore[no-untyped-def]
    knowledge = rule("ship", [{"reply": "Good question!"}, {"knowledge": True}], keywords=["shipping"])
    reply = make_runtime(rules=[knowledge]).answer("How long does standard shipping take?")
    assert reply.text.startswith("Good question!\n\n") and "5 business days" in reply.text
    assert reply.citations and reply.trace.rule == "ship"
    assert [s.stage for s in reply.trace.stages] == ["intent", "rules", "retrieve", "handoff", "generate"]


def test_priority_decides_and_disabled_rules_are_skipped() -> None:
    low = rule("low", [{"reply": "low"}], priority=50)
    high = rule("high", [{"reply": "high"}], priority=5)
    assert run([low, high]).reply == "high"
    high.enabled = False
    assert run([low, high]).reply == "low"
    assert first_match([high], TurnContext(bot=BOT, text="my order")) is None


def test_http_actions_are_checked_when_saved() -> None:
    assert rule("call", [{"http": {"url": "https://example.com"}}]).actions[0].kind == "http"
    with pytest.raises(ConfigError, match="http.method must be one of"):
        rule("call", [{"http": {"method": "FETCH", "url": "https://example.com"}}])


@pytest.mark.parametrize(
    ("then", "message"),
    [
        ([], "then must be a non-empty list"),
        ([{"reply": "a", "tag": "b"}], "one key"),
        ([{"email": "x"}], "unknown action 'email'"),
        ([{"reply": "{{ oops "}], "bad template in reply"),
        ([{"quick_replies": [{"title": "x"}]}], "quick_replies need a reply"),
        ([{"reply": "x"}, {"quick_replies": [{"payload": "x"}]}], "quick_replies[0]"),
        ([{"knowledge": True}, {"reply": "x"}], "knowledge must be the last action"),
        ([{"handoff": "yes"}], '{"handoff": true}'),
        ([{"set_attribute": {"name": "tags", "value": "x"}}], "other than 'tags'"),
        ([{"ask_slots": {"slots": [{"name": "a", "prompt": "?", "type": "colour"}]}}], "unknown slot type 'colour'"),
    ],
)
def test_bad_actions_are_config_errors(then: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        rule("bad", then)
    assert message in str(caught.value)


def test_old_rule_json_converts_to_when_then() -> None:
    old = {"name": "human", "intent": "human_agent", "min_confidence": 0.6, "keywords": ["agent"],
           "pattern": "person", "action": "handoff", "reply": "Connecting you.", "priority": 3, "enabled": False}
    assert from_legacy(old) == {
        "name": "human",
        "when": {"intent": "human_agent", "min_confidence": 0.6, "keywords": ["agent"], "regex": "person"},
        "then": [{"reply": "Connecting you."}, {"handoff": True}],
        "priority": 3,
        "enabled": False,
    }
    converted = Rule.from_dict(old)
    assert (converted.priority, converted.enabled, converted.action) == (3, False, "handoff")
    assert converted.definition() == {"when": from_legacy(old)["when"], "then": from_legacy(old)["then"]}


def test_every_demo_rule_loads_and_the_old_ones_behave_as_before() -> None:
    rules = [Rule.from_dict(r) for r in json.loads(DEMO_RULES.read_text(encoding="utf-8"))]
    human = next(r for r in rules if r.name == "human_agent")
    ctx = run([human], "a person please", intent="human_agent", confidence=0.9)
    assert ctx.trace.handoff and ctx.reply and "+1-800-555-0199" in ctx.reply
    assert not run([human], "a person please", intent="human_agent", confidence=0.5).done


def test_from_dict_refuses_unknown_top_level_fields_of_the_new_shape() -> None:
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['reply'\]"):
        Rule.from_dict({"name": "x", "when": {"keywords": ["a"]}, "then": [{"reply": "a"}], "reply": "b"})
    with pytest.raises(ConfigError, match="priority must be a whole number"):
        Rule.from_dict({"name": "x", "when": {"keywords": ["a"]}, "then": [{"reply": "a"}], "priority": "high"})

"""Reply rules: the business's own logic, matched before the knowledge base answers.

A rule is `when` (conditions, all must hold: bot/conditions.py) -> `then` (actions run in order:
bot/actions.py, slot filling in bot/flows.py), with a priority (lower runs first) and an enabled
flag. The first enabled rule that matches answers the turn; rules that only tag or set attributes
run when they match and let the next rules be tried. The old one-reply shape (reply, intent,
min_confidence, keywords, pattern, action) still loads and is converted. Reference: docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot import flows
from bot.actions import PARSERS as ACTION_PARSERS
from bot.actions import Action, Handoff, Outcome, SetAttribute, Tag, variables
from bot.conditions import Check, Condition, parse_when
from bot.errors import ConfigError
from bot.flows import AskSlots
from bot.http_parse import parse_http
from bot.types import TurnContext

ACTIONS = ("reply", "handoff")  # the actions of the old rule shape
PARSERS = {**ACTION_PARSERS, "http": parse_http}
ACTION_KINDS = (*PARSERS, "ask_slots")
V2_KEYS = ("name", "description", "priority", "enabled", "when", "then")
LEGACY_KEYS = ("name", "reply", "intent", "min_confidence", "keywords", "pattern", "priority", "enabled", "action")


def from_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """Convert the old one-reply rule JSON into the when/then shape."""
    name = data.get("name", "?")
    if "reply" not in data:
        raise ConfigError(f"rule {name!r} is missing ['reply']")
    action = data.get("action", "reply")
    if action not in ACTIONS:
        raise ConfigError(f"rule {name!r}: unknown action {action!r}; known: {list(ACTIONS)}")
    keywords = data.get("keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        raise ConfigError(f"rule {name!r}: keywords must be a list of non-empty strings")
    when: dict[str, Any] = {}
    if data.get("intent"):
        when["intent"] = data["intent"]
        if data.get("min_confidence"):
            when["min_confidence"] = data["min_confidence"]
    if keywords:
        when["keywords"] = keywords
    if data.get("pattern"):
        when["regex"] = data["pattern"]
    then: list[dict[str, Any]] = [{"reply": data["reply"]}]
    if action == "handoff":
        then.append({"handoff": True})
    converted = {"name": name, "when": when, "then": then}
    converted.update({k: data[k] for k in ("priority", "enabled") if k in data})
    return converted


def parse_then(rule: str, then: Any) -> list[Action | AskSlots]:
    """Build a rule's actions; ConfigError names what is wrong."""
    if not isinstance(then, list) or not then:
        raise ConfigError(f"rule {rule!r}: then must be a non-empty list of actions")
    actions: list[Action | AskSlots] = []
    for i, spec in enumerate(then):
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ConfigError(f"rule {rule!r}: then[{i}] must be an object with one key, the action's kind")
        kind, value = next(iter(spec.items()))
        if kind not in ACTION_KINDS:
            raise ConfigError(f"rule {rule!r}: unknown action {kind!r}; known: {sorted(ACTION_KINDS)}")
        actions.append(flows.parse_ask_slots(rule, value) if kind == "ask_slots" else PARSERS[kind](rule, value))
    kinds = [a.kind for a in actions]
    if kinds.count("ask_slots") > 1:
        raise ConfigError(f"rule {rule!r}: at most one ask_slots action per rule")
    if "knowledge" in kinds and kinds.index("knowledge") != len(kinds) - 1:
        raise ConfigError(f"rule {rule!r}: knowledge must be the last action")
    if "quick_replies" in kinds and not {"reply", "ask_slots", "handoff", "knowledge"} & set(kinds):
        raise ConfigError(f"rule {rule!r}: quick_replies need a reply, ask_slots, handoff or knowledge action")
    return actions


class Rule:
    """A reply rule: conditions, actions, priority and enabled flag.

    Build it from JSON with Rule.from_dict; Rule(name, when, then, priority=..., enabled=...) also
    works, and so does the old keyword form Rule(name=..., reply=..., keywords=[...]).
    """

    def __init__(
        self,
        name: str,
        when: dict[str, Any] | None = None,
        then: list[dict[str, Any]] | None = None,
        *,
        priority: int = 100,
        enabled: bool = True,
        description: str = "",
        **legacy: Any,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("a rule needs a non-empty name")
        if legacy:
            if when is not None or then is not None:
                raise ConfigError(f"rule {name!r}: use either when/then or the old reply/keywords fields")
            converted = from_legacy({"name": name, **legacy})
            when, then = converted["when"], converted["then"]
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ConfigError(f"rule {name!r}: priority must be a whole number")
        if not isinstance(enabled, bool):
            raise ConfigError(f"rule {name!r}: enabled must be true or false")
        if not isinstance(description, str):
            raise ConfigError(f"rule {name!r}: description must be a string")
        self.name, self.priority, self.enabled, self.description = name.strip(), priority, enabled, description
        self.when: dict[str, Any] = when if when is not None else {}
        self.then: list[dict[str, Any]] = then if then is not None else []
        self.conditions: list[Condition] = parse_when(self.name, self.when)
        if not self.conditions:
            raise ConfigError(f"rule {self.name!r} needs a condition: an intent, keywords or a pattern (regex), ...")
        self.actions = parse_then(self.name, self.then)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Build a rule from its JSON form (when/then, or the old shape); unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError("a rule must be a JSON object")
        name = data.get("name", "?")
        legacy = "when" not in data and "then" not in data
        allowed = LEGACY_KEYS if legacy else V2_KEYS
        extra = sorted(set(data) - set(allowed))
        if extra:
            known = sorted(set(V2_KEYS) | set(LEGACY_KEYS)) if legacy else list(V2_KEYS)
            raise ConfigError(f"rule {name!r} has unknown field(s) {extra}; allowed: {known}")
        if "name" not in data:
            raise ConfigError("a rule needs a name")
        if legacy:
            data = from_legacy(data)
        return cls(
            data["name"], data.get("when"), data.get("then"), priority=data.get("priority", 100),
            enabled=data.get("enabled", True), description=data.get("description", ""),
        )

    def definition(self) -> dict[str, Any]:
        """The JSON stored in ReplyRule.definition (name, priority and enabled are columns)."""
        data: dict[str, Any] = {"when": self.when, "then": self.then}
        if self.description:
            data = {"description": self.description, **data}
        return data

    def to_dict(self) -> dict[str, Any]:
        """The whole rule as JSON."""
        return {"name": self.name, "priority": self.priority, "enabled": self.enabled, **self.definition()}

    @property
    def action(self) -> str:
        """The old shape's action: "handoff" when the rule hands off, else "reply"."""
        return "handoff" if any(isinstance(a, Handoff) for a in self.actions) else "reply"

    @property
    def side_effects_only(self) -> bool:
        """Only tags and attributes: the rule does not answer, later rules are still tried."""
        return all(isinstance(a, Tag | SetAttribute) for a in self.actions)

    def evaluate(self, ctx: TurnContext) -> Evaluation:
        """Check every condition (none is skipped, so each has its reason)."""
        return Evaluation(self, [c.check(ctx) for c in self.conditions])

    def matches(self, ctx: TurnContext) -> bool:
        """Whether the rule is enabled and every condition holds for this turn."""
        return self.evaluate(ctx).matched

    def render(self, ctx: TurnContext) -> str:
        """The text the rule's reply actions say for this turn (without running other actions)."""
        outcome, env = Outcome(), variables(ctx)
        for action in self.actions:
            if action.kind == "reply":
                action.apply(ctx, outcome, env)  # type: ignore[union-attr]
        return "\n\n".join(outcome.texts)

    def summary(self) -> tuple[str, str]:
        """One line each for when and then, for the console's list."""
        when = "; ".join(f"{k}={v}" for k, v in self.when.items())
        then = ", ".join(
            f"ask {[s.name for s in a.slots]}" if isinstance(a, AskSlots) else a.kind for a in self.actions
        )
        return when, then


@dataclass
class Evaluation:
    """One rule checked against one turn."""

    rule: Rule
    checks: list[Check]

    @property
    def matched(self) -> bool:
        """Enabled and every condition passed."""
        return self.rule.enabled and all(c.passed for c in self.checks)

    def reasons(self) -> list[str]:
        """One line per condition."""
        return [c.line() for c in self.checks]


def evaluate_all(rules: list[Rule], ctx: TurnContext) -> list[Evaluation]:
    """Every rule, disabled ones included, checked in priority order (lowest number first)."""
    return [rule.evaluate(ctx) for rule in sorted(rules, key=lambda r: r.priority)]


def choose(evaluations: list[Evaluation]) -> tuple[list[Evaluation], Evaluation | None]:
    """The side-effect-only rules that match before the first matching answering rule, and that rule."""
    applied = []
    for evaluation in evaluations:
        if not evaluation.matched:
            continue
        if not evaluation.rule.side_effects_only:
            return applied, evaluation
        applied.append(evaluation)
    return applied, None


def first_match(rules: list[Rule], ctx: TurnContext) -> Rule | None:
    """The highest-priority (lowest number) enabled rule that matches and answers."""
    chosen = choose(evaluate_all(rules, ctx))[1]
    return chosen.rule if chosen else None


def fire(rule: Rule, ctx: TurnContext, start: int = 0, outcome: Outcome | None = None,
         env: dict[str, Any] | None = None) -> Outcome:
    """Run the rule's actions from `start`; an ask_slots that must ask stops there."""
    outcome = outcome or Outcome()
    env = env if env is not None else variables(ctx)
    for index in range(start, len(rule.actions)):
        action = rule.actions[index]
        outcome.ran.append(action.kind)
        if isinstance(action, AskSlots):
            if flows.start(rule.name, index, action, ctx, outcome, env):
                return outcome
            continue
        action.apply(ctx, outcome, env)
        if outcome.halted:  # an http call failed: its on_error actions ran instead of the rest
            break
    return outcome


def resume_flow(rules: list[Rule], ctx: TurnContext) -> tuple[Rule, Outcome] | None:
    """Continue the conversation's active flow; None (and the flow dropped) if its rule is gone."""
    active = ctx.state.active_flow or {}
    rule = next((r for r in rules if r.name == active.get("rule") and r.enabled), None)
    index = active.get("action")
    action = rule.actions[index] if rule and isinstance(index, int) and 0 <= index < len(rule.actions) else None
    if rule is None or not isinstance(action, AskSlots):
        flows.drop(ctx)
        ctx.trace.flow.append({"step": "dropped", "rule": active.get("rule"), "why": "rule gone, disabled or edited"})
        return None
    outcome, env = Outcome(ran=["ask_slots"]), variables(ctx)
    if flows.resume(rule.name, action, ctx, outcome, env):
        return rule, outcome
    return rule, fire(rule, ctx, index + 1, outcome, env)


def apply_rules(rules: list[Rule], ctx: TurnContext) -> None:
    """The rules stage: resume an active flow, else run matching rules; finish the turn if one answers."""
    if ctx.state.active_flow is not None:
        resumed = resume_flow(rules, ctx)
        if resumed is not None:
            conclude(ctx, *resumed)
            return
    applied, chosen = choose(evaluate_all(rules, ctx))
    for evaluation in applied:
        fire(evaluation.rule, ctx)
        ctx.trace.rules_applied.append(evaluation.rule.name)
    if chosen is not None:
        ctx.trace.rule_reasons = chosen.reasons()
        conclude(ctx, chosen.rule, fire(chosen.rule, ctx))


def conclude(ctx: TurnContext, rule: Rule, outcome: Outcome) -> None:
    """Turn a rule's outcome into the reply, or hand over to the knowledge stages after a prefix."""
    ctx.trace.rule = rule.name
    ctx.trace.actions = outcome.ran
    ctx.trace.quick_replies = outcome.quick_replies
    text = "\n\n".join(t for t in outcome.texts if t)
    if outcome.handoff:
        ctx.request_handoff(f"rule:{rule.name}")
        if ctx.state.active_flow is not None:
            flows.drop(ctx)  # a person takes over: the bot stops asking
    if outcome.knowledge and not outcome.waiting:
        _let_knowledge_answer(ctx, text, outcome.knowledge_query)
        return
    if text or outcome.handoff:
        ctx.finish(text or ctx.bot.handoff)


def _let_knowledge_answer(ctx: TurnContext, prefix: str, query: str | None) -> None:
    if query:
        ctx.trace.knowledge_query = query
        ctx.text = query
    if prefix:
        ctx.prefix = prefix + "\n\n"
        ctx.emit(ctx.prefix)
        restart = ctx.restart

        def restart_after_prefix() -> None:  # a backend failed mid-answer: the prefix stays
            restart()
            ctx.emit(ctx.prefix)

        ctx.restart = restart_after_prefix

"""Slot filling: a rule's {"ask_slots": ...} action collects named values over several turns.

The state lives in ConversationState.flow (the Conversation.flow column), so it survives
reconnects and restarts:

    {"slots": {name: value, ...},              # values of completed flows, for later rules
     "active": {"rule": name, "action": index, # the ask_slots action of that rule
                "asking": slot, "collected": {...}, "reasks": n}}   # while waiting for an answer

While a flow is active the rules stage resumes it before any rule is matched: the answer is
validated; a bad one is re-asked up to max_reasks times; a cancel word drops the flow; when every
slot is filled the rule's remaining actions run with the slots available to their templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template

from bot.actions import Outcome, compile_template
from bot.errors import ConfigError
from bot.types import TurnContext

SLOT_TYPES = ("text", "email", "number", "order_number", "choice", "regex")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
ORDER_NUMBER = r"[A-Z]{2,4}-?\d{4,10}"
NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
DEFAULT_CANCEL = ["cancel", "取消"]
GIVE_UP = "Sorry, I still couldn't understand that, so let's stop here."
SLOT_KEYS = {"name", "prompt", "type", "pattern", "choices", "min", "max", "reask", "max_reasks", "max_length"}
FLOW_KEYS = {"slots", "cancel_words", "cancelled", "give_up", "give_up_handoff"}
_PUNCTUATION = re.compile(r"[\s.!?。！？,，]+")
_WHAT = {
    "email": "an email address",
    "number": "a number",
    "order_number": "an order number",
    "choice": "one of the options",
}


@dataclass
class Slot:
    """One value to collect: a prompt, a type (or regex) and what to say on bad input."""

    name: str
    prompt: Template
    type: str = "text"
    pattern: re.Pattern[str] | None = None
    choices: list[str] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    max_length: int = 500
    reask: Template | None = None
    max_reasks: int = 2

    def parse(self, text: str) -> tuple[bool, Any, str]:
        """Validate an answer: (ok, normalised value, why)."""
        text = text.strip()
        if self.type == "choice":
            return self._choice(text)
        if self.type == "number":
            return self._number(text)
        if self.type == "text":
            if 0 < len(text) <= self.max_length:
                return True, text, "any text"
            return False, None, f"must be 1 to {self.max_length} characters"
        match = self.pattern.fullmatch(text) if self.pattern else None
        value = match.group(0) if match else self.extract(text)  # "it's NW-123456" is fine too
        if value is None:
            return False, None, f"not {_WHAT.get(self.type, 'in the expected form')}"
        return True, value.upper() if self.type == "order_number" else value, f"valid {self.type}"

    def extract(self, text: str) -> Any | None:
        """A value for this slot found in the message that started the flow (pattern types only)."""
        if self.type not in ("email", "order_number", "regex") or self.pattern is None:
            return None
        found = [m.group(0) for m in self.pattern.finditer(text)]
        if len(found) != 1:
            return None
        return found[0].upper() if self.type == "order_number" else found[0]

    def _choice(self, text: str) -> tuple[bool, Any, str]:
        lowered = text.lower()
        if lowered.isdigit() and 1 <= int(lowered) <= len(self.choices):
            return True, self.choices[int(lowered) - 1], "chosen by number"
        exact = [c for c in self.choices if c.lower() == lowered]
        starts = [c for c in self.choices if lowered and c.lower().startswith(lowered)]
        hit = exact or (starts if len(starts) == 1 else [])
        if hit:
            return True, hit[0], "one of the options"
        return False, None, f"not one of {self.choices}"

    def _number(self, text: str) -> tuple[bool, Any, str]:
        found = NUMBER.findall(text)
        if len(found) != 1:
            return False, None, "not a number"
        value = float(found[0].replace(",", "."))
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return False, None, f"outside [{self.low}, {self.high}]"
        return True, int(value) if value.is_integer() else value, "valid number"


@dataclass
class AskSlots:
    """The ask_slots action: collect slots in order, then run the rule's remaining actions."""

    slots: list[Slot]
    cancel_words: list[str]
    cancelled: Template
    give_up: Template
    give_up_handoff: bool = False
    kind: str = "ask_slots"

    def slot(self, name: str) -> Slot | None:
        """The slot of that name."""
        return next((s for s in self.slots if s.name == name), None)

    def is_cancel(self, text: str) -> bool:
        """Whether the customer's answer is one of the cancel words."""
        words = {_PUNCTUATION.sub(" ", w.lower()).strip() for w in self.cancel_words}
        return _PUNCTUATION.sub(" ", text.lower()).strip() in words


# ---- parsing ------------------------------------------------------------------------------------
def parse_ask_slots(rule: str, spec: Any) -> AskSlots:
    """Build an ask_slots action from its JSON; ConfigError names what is wrong."""
    if not isinstance(spec, dict) or "slots" not in spec:
        raise ConfigError(f"rule {rule!r}: ask_slots must be an object with a slots list")
    unknown = sorted(set(spec) - FLOW_KEYS)
    if unknown:
        raise ConfigError(f"rule {rule!r}: ask_slots has unknown field(s) {unknown}; known: {sorted(FLOW_KEYS)}")
    if not isinstance(spec["slots"], list) or not spec["slots"]:
        raise ConfigError(f"rule {rule!r}: ask_slots.slots must be a non-empty list")
    slots = [_slot(rule, i, s) for i, s in enumerate(spec["slots"])]
    names = [s.name for s in slots]
    if len(set(names)) != len(names):
        raise ConfigError(f"rule {rule!r}: slot names must be unique, got {names}")
    cancel = spec.get("cancel_words", DEFAULT_CANCEL)
    if not isinstance(cancel, list) or not all(isinstance(w, str) and w.strip() for w in cancel):
        raise ConfigError(f"rule {rule!r}: ask_slots.cancel_words must be a list of words")
    if not isinstance(spec.get("give_up_handoff", False), bool):
        raise ConfigError(f"rule {rule!r}: ask_slots.give_up_handoff must be true or false")
    return AskSlots(
        slots=slots,
        cancel_words=cancel,
        cancelled=compile_template(rule, "ask_slots.cancelled", spec.get("cancelled", "OK, I've cancelled that.")),
        give_up=compile_template(
            rule, "ask_slots.give_up", spec.get("give_up", GIVE_UP)
        ),
        give_up_handoff=spec.get("give_up_handoff", False),
    )


def _slot(rule: str, index: int, spec: Any) -> Slot:
    where = f"ask_slots.slots[{index}]"
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"].strip():
        raise ConfigError(f"rule {rule!r}: {where} needs a name")
    unknown = sorted(set(spec) - SLOT_KEYS)
    if unknown:
        raise ConfigError(f"rule {rule!r}: {where} has unknown field(s) {unknown}; known: {sorted(SLOT_KEYS)}")
    kind = spec.get("type", "regex" if "pattern" in spec else "text")
    if kind not in SLOT_TYPES:
        raise ConfigError(f"rule {rule!r}: {where} has unknown slot type {kind!r}; known: {list(SLOT_TYPES)}")
    if "prompt" not in spec:
        raise ConfigError(f"rule {rule!r}: {where} needs a prompt")
    slot = Slot(name=spec["name"].strip(), prompt=compile_template(rule, f"{where}.prompt", spec["prompt"]), type=kind)
    if "reask" in spec:
        slot.reask = compile_template(rule, f"{where}.reask", spec["reask"])
    max_reasks = spec.get("max_reasks", 2)
    if isinstance(max_reasks, bool) or not isinstance(max_reasks, int) or not 0 <= max_reasks <= 10:
        raise ConfigError(f"rule {rule!r}: {where}.max_reasks must be a whole number from 0 to 10")
    slot.max_reasks = max_reasks
    _typed(rule, where, spec, slot)
    return slot


def _typed(rule: str, where: str, spec: dict[str, Any], slot: Slot) -> None:
    """Type-specific fields: pattern, choices, min/max, max_length."""
    pattern = spec.get("pattern")
    if pattern is not None and slot.type not in ("regex", "order_number"):
        raise ConfigError(f"rule {rule!r}: {where}.pattern is for regex and order_number slots")
    if slot.type == "regex" and not pattern:
        raise ConfigError(f"rule {rule!r}: {where} of type regex needs a pattern")
    source = pattern or {"email": EMAIL.pattern, "order_number": ORDER_NUMBER}.get(slot.type)
    if source is not None:
        if not isinstance(source, str):
            raise ConfigError(f"rule {rule!r}: {where}.pattern must be a string")
        try:
            slot.pattern = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"rule {rule!r}: bad regex in {where}.pattern: {exc}") from exc
    choices = spec.get("choices")
    if (choices is not None) != (slot.type == "choice"):
        raise ConfigError(f"rule {rule!r}: {where}: choices go with (and only with) type choice")
    if choices is not None:
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ConfigError(f"rule {rule!r}: {where}.choices must be a non-empty list of strings")
        slot.choices = [c.strip() for c in choices]
    for bound in ("min", "max"):
        if bound in spec:
            value = spec[bound]
            if slot.type != "number" or isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"rule {rule!r}: {where}.{bound} must be a number, on number slots only")
            setattr(slot, "low" if bound == "min" else "high", float(value))
    if "max_length" in spec:
        value = spec["max_length"]
        if slot.type != "text" or isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"rule {rule!r}: {where}.max_length must be a positive whole number, on text slots")
        slot.max_length = value


# ---- running ------------------------------------------------------------------------------------
def _step(ctx: TurnContext, step: str, **details: Any) -> None:
    ctx.trace.flow.append({"step": step, **details})


def _ask(slot: Slot, outcome: Outcome, env: dict[str, Any], text: Template | None = None) -> None:
    outcome.texts.append((text or slot.prompt).render(**env).strip())
    if slot.type == "choice":
        outcome.quick_replies.extend({"title": c, "payload": c} for c in slot.choices)
    outcome.waiting = True


def start(rule: str, index: int, action: AskSlots, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> bool:
    """Begin collecting; slots the message already holds are filled at once.

    Returns True when the customer is asked for a slot (the rule's later actions wait), False
    when every slot was found in the message (they run now, with env["slots"] updated).
    """
    collected: dict[str, Any] = {}
    for slot in action.slots:
        value = slot.extract(ctx.text)
        if value is not None:
            collected[slot.name] = value
    _step(ctx, "started", rule=rule, prefilled=sorted(collected))
    return _next(rule, index, action, ctx, outcome, env, collected)


def _next(
    rule: str, index: int, action: AskSlots, ctx: TurnContext, outcome: Outcome, env: dict[str, Any],
    collected: dict[str, Any],
) -> bool:
    """Ask for the first missing slot, or complete the flow."""
    env["slots"] = {**env["slots"], **collected}
    missing = next((s for s in action.slots if s.name not in collected), None)
    flow = dict(ctx.state.flow or {})
    if missing is None:
        flow["slots"] = {**(flow.get("slots") or {}), **collected}
        flow.pop("active", None)
        ctx.state.flow = flow
        _step(ctx, "completed", rule=rule, slots=sorted(collected))
        return False
    flow["active"] = {"rule": rule, "action": index, "asking": missing.name, "collected": collected, "reasks": 0}
    ctx.state.flow = flow
    _step(ctx, "asking", slot=missing.name)
    _ask(missing, outcome, env)
    return True


def drop(ctx: TurnContext) -> None:
    """Forget the active flow (its collected values too); completed slots stay."""
    flow = dict(ctx.state.flow or {})
    flow.pop("active", None)
    ctx.state.flow = flow if flow.get("slots") else None


def resume(rule: str, action: AskSlots, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> bool:
    """Take the customer's answer to the active flow.

    Returns True when the turn is answered (re-ask, next prompt, cancel, give up), False when the
    flow completed and the rule's actions after ask_slots should run.
    """
    active = dict(ctx.state.active_flow or {})
    slot = action.slot(str(active.get("asking")))
    collected = dict(active.get("collected") or {})
    env["slots"] = {**env["slots"], **collected}
    if action.is_cancel(ctx.text):
        drop(ctx)
        _step(ctx, "cancelled", rule=rule)
        outcome.texts.append(action.cancelled.render(**env).strip())
        return True
    if slot is None:  # the rule was edited meanwhile: start over with what is still valid
        kept = {k: v for k, v in collected.items() if action.slot(k) is not None}
        return _next(rule, int(active.get("action", 0)), action, ctx, outcome, env, kept)
    ok, value, why = slot.parse(ctx.text)
    if ok:
        collected[slot.name] = value
        _step(ctx, "filled", slot=slot.name, value=value)
        return _next(rule, int(active["action"]), action, ctx, outcome, env, collected)
    reasks = int(active.get("reasks", 0)) + 1
    if reasks > slot.max_reasks:
        drop(ctx)
        _step(ctx, "gave_up", slot=slot.name, why=why)
        outcome.texts.append(action.give_up.render(**env).strip())
        outcome.handoff = action.give_up_handoff
        return True
    ctx.state.flow = {**(ctx.state.flow or {}), "active": {**active, "reasks": reasks}}
    _step(ctx, "invalid", slot=slot.name, why=why, reask=reasks)
    if slot.reask is not None:
        _ask(slot, outcome, env, slot.reask)
    else:
        outcome.texts.append(f"Sorry, that doesn't look right ({why}).")
        _ask(slot, outcome, env)
    return True

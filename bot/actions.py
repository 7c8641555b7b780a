"""The "then" part of a reply rule: actions run in order, and the sandboxed reply templates.

Each action is a JSON object with one key naming it, e.g. {"reply": "Hi {{ bot.name }}"} or
{"tag": "vip"}. Slot filling ({"ask_slots": ...}) lives in bot/flows.py, calling the business's
endpoint ({"http": ...}) in bot/http_action.py. Docs: docs/rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ConfigError
from bot.types import TurnContext

_TEMPLATES = SandboxedEnvironment(autoescape=False)  # replies are plain text, escaped by each channel
MAX_QUICK_REPLIES = 10
MAX_TITLE = 80
MAX_PAYLOAD = 1000


def compile_template(rule: str, where: str, source: Any) -> Template:
    """Compile a reply template in the sandbox; ConfigError when it is not a string or does not parse."""
    if not isinstance(source, str):
        raise ConfigError(f"rule {rule!r}: {where} must be a string")
    try:
        return _TEMPLATES.from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"rule {rule!r}: bad template in {where}: {exc}") from exc


def variables(ctx: TurnContext, slots: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a template sees: message, intent, confidence, slots, attributes, tags, bot, channel, now."""
    attributes = dict(ctx.state.attributes)
    return {
        "message": ctx.text,
        "intent": ctx.intent,
        "confidence": ctx.confidence,
        "slots": {**ctx.state.slots, **(slots or {})},
        "attributes": attributes,
        "tags": list(attributes.get("tags") or []),
        "bot": ctx.bot.public(),
        "channel": ctx.channel,
        "now": (ctx.now or datetime.now(ZoneInfo(ctx.bot.timezone))).astimezone(ZoneInfo(ctx.bot.timezone)),
    }


@dataclass
class Outcome:
    """What a rule's actions produced for this turn."""

    texts: list[str] = field(default_factory=list)
    quick_replies: list[dict[str, str]] = field(default_factory=list)
    handoff: bool = False
    knowledge: bool = False  # retrieval and generation answer after the texts
    knowledge_query: str | None = None  # the question they answer instead of the message
    waiting: bool = False  # a flow asked the customer for a slot
    halted: bool = False  # an action failed (an http call): the rule's later actions do not run
    ran: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        """Whether the rule answers the turn (anything beyond tags and attributes)."""
        return bool(self.texts or self.handoff or self.knowledge or self.waiting)


class Action(Protocol):
    """One step of a rule's `then`."""

    kind: str

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        """Do it: change the outcome or the conversation's state."""


@dataclass
class Reply:
    """Say a templated text (several replies are joined by a blank line)."""

    template: Template
    kind: str = "reply"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        text = self.template.render(**env).strip()
        if text:
            outcome.texts.append(text)


@dataclass
class QuickReplies:
    """Buttons under the reply; a tap sends the payload as the customer's next message."""

    buttons: list[dict[str, str]]
    kind: str = "quick_replies"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        outcome.quick_replies.extend(dict(b) for b in self.buttons)


@dataclass
class Handoff:
    """Ask for a person; without a reply the bot's handoff notice is said."""

    kind: str = "handoff"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        outcome.handoff = True


@dataclass
class Tag:
    """Add tags to the conversation (attributes["tags"], kept sorted and unique)."""

    tags: list[str]
    kind: str = "tag"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        current = ctx.state.attributes.get("tags")
        tags = set(current) if isinstance(current, list) else set()
        ctx.state.attributes["tags"] = sorted(tags | set(self.tags))
        env["attributes"] = dict(ctx.state.attributes)
        env["tags"] = list(ctx.state.attributes["tags"])


@dataclass
class SetAttribute:
    """Set a customer attribute; a string value is a template (e.g. "{{ slots.email }}")."""

    name: str
    value: Any
    kind: str = "set_attribute"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        value = self.value.render(**env) if isinstance(self.value, Template) else self.value
        ctx.state.attributes[self.name] = value
        env["attributes"] = dict(ctx.state.attributes)


@dataclass
class Knowledge:
    """Let retrieval and generation answer, after the rule's replies (the prefix), optionally
    with another question than the customer's message."""

    query: Template | None
    kind: str = "knowledge"

    def apply(self, ctx: TurnContext, outcome: Outcome, env: dict[str, Any]) -> None:
        outcome.knowledge = True
        query = self.query.render(**env).strip() if self.query is not None else ""
        outcome.knowledge_query = query or None


def _reply(rule: str, spec: Any) -> Action:
    return Reply(compile_template(rule, "reply", spec))


def _quick_replies(rule: str, spec: Any) -> Action:
    if not isinstance(spec, list) or not 1 <= len(spec) <= MAX_QUICK_REPLIES:
        raise ConfigError(f"rule {rule!r}: quick_replies must be a list of 1 to {MAX_QUICK_REPLIES} buttons")
    buttons = []
    for i, button in enumerate(spec):
        if isinstance(button, str):
            button = {"title": button, "payload": button}
        if not isinstance(button, dict) or set(button) - {"title", "payload"} or "title" not in button:
            raise ConfigError(f"rule {rule!r}: quick_replies[{i}] must be {{\"title\", \"payload\"}} or a string")
        title, payload = button["title"], button.get("payload", button["title"])
        for field_name, value, limit in (("title", title, MAX_TITLE), ("payload", payload, MAX_PAYLOAD)):
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise ConfigError(f"rule {rule!r}: quick_replies[{i}].{field_name} must be 1 to {limit} characters")
        buttons.append({"title": title.strip(), "payload": payload.strip()})
    return QuickReplies(buttons)


def _handoff(rule: str, spec: Any) -> Action:
    if spec is not True:
        raise ConfigError(f"rule {rule!r}: write the handoff action as {{\"handoff\": true}}")
    return Handoff()


def _tag(rule: str, spec: Any) -> Action:
    tags = [spec] if isinstance(spec, str) else spec
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t.strip() for t in tags):
        raise ConfigError(f"rule {rule!r}: tag must be a tag or a list of tags")
    return Tag([t.strip() for t in tags])


def _set_attribute(rule: str, spec: Any) -> Action:
    if not isinstance(spec, dict) or set(spec) != {"name", "value"}:
        raise ConfigError(f"rule {rule!r}: set_attribute must be {{\"name\": ..., \"value\": ...}}")
    name, value = spec["name"], spec["value"]
    if not isinstance(name, str) or not name.strip() or name == "tags":
        raise ConfigError(f"rule {rule!r}: set_attribute.name must be a name other than 'tags' (use tag)")
    if isinstance(value, str):
        value = compile_template(rule, "set_attribute.value", value)
    elif value is not None and not isinstance(value, bool | int | float):
        raise ConfigError(f"rule {rule!r}: set_attribute.value must be a string, number, true/false or null")
    return SetAttribute(name.strip(), value)


def _knowledge(rule: str, spec: Any) -> Action:
    if spec is True:
        return Knowledge(None)
    if not isinstance(spec, dict) or set(spec) - {"query"}:
        raise ConfigError(f"rule {rule!r}: knowledge must be true or {{\"query\": \"...\"}}")
    return Knowledge(compile_template(rule, "knowledge.query", spec["query"]) if "query" in spec else None)


PARSERS = {
    "reply": _reply,
    "quick_replies": _quick_replies,
    "handoff": _handoff,
    "tag": _tag,
    "set_attribute": _set_attribute,
    "knowledge": _knowledge,
}  # the http action (bot/http_action.py) and ask_slots (bot/flows.py) are added by bot/rules.py

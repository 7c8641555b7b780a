"""Reply rules: the business's own logic, matched before the knowledge base answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from bot.errors import ConfigError
from bot.types import TurnContext

_TEMPLATES = SandboxedEnvironment(autoescape=False)  # replies are plain text, escaped by each channel
ACTIONS = ("reply", "handoff")  # reply: answer with the template; handoff: answer, then queue for a person


@dataclass
class Rule:
    """When a customer message matches, reply from a template instead of the knowledge base."""

    name: str
    reply: str
    intent: str | None = None
    min_confidence: float = 0.0
    keywords: list[str] = field(default_factory=list)
    pattern: str | None = None
    priority: int = 100
    enabled: bool = True
    action: str = "reply"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"rule {self.name!r}: unknown action {self.action!r}; known: {list(ACTIONS)}")
        if not self.intent and not self.keywords and not self.pattern:
            raise ConfigError(f"rule {self.name!r} needs an intent, keywords or a pattern")
        try:
            self._regex = re.compile(self.pattern, re.I) if self.pattern else None
            self._template = _TEMPLATES.from_string(self.reply)
        except (re.error, Exception) as exc:
            raise ConfigError(f"rule {self.name!r}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Build a rule from its JSON form; unknown keys are an error."""
        allowed = set(cls.__dataclass_fields__)
        extra = set(data) - allowed
        if extra:
            raise ConfigError(f"rule has unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
        missing = {"name", "reply"} - set(data)
        if missing:
            raise ConfigError(f"rule {data.get('name', '?')!r} is missing {sorted(missing)}")
        keywords = data.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
            raise ConfigError(f"rule {data['name']!r}: keywords must be a list of non-empty strings")
        return cls(**data)

    def matches(self, ctx: TurnContext) -> bool:
        """Whether every condition the rule sets holds for this turn."""
        if not self.enabled:
            return False
        if self.intent and (ctx.intent != self.intent or ctx.confidence < self.min_confidence):
            return False
        lowered = ctx.text.lower()
        if self.keywords and not any(k.lower() in lowered for k in self.keywords):
            return False
        return not (self._regex and not self._regex.search(ctx.text))

    def render(self, ctx: TurnContext) -> str:
        """The reply text, with the bot, the message and the intent available to the template."""
        return self._template.render(bot=ctx.bot, message=ctx.text, intent=ctx.intent).strip()


def first_match(rules: list[Rule], ctx: TurnContext) -> Rule | None:
    """The highest-priority (lowest number) enabled rule that matches."""
    for rule in sorted(rules, key=lambda r: r.priority):
        if rule.matches(ctx):
            return rule
    return None

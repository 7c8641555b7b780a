"""The console's "Try it": which rule fires for a message, and why, without touching a conversation.

It runs the bot's own intent stage and the same rule code as the pipeline (bot/rules.py) on a
throw-away context, so what it shows is what a customer would get. HTTP actions call nothing:
`http` lists the requests they would send (secrets masked) and the rule goes on as if the call
succeeded with an empty answer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import language, sentiment
from bot.conditions import message_count
from bot.rules import Evaluation, apply_rules, choose, evaluate_all
from bot.types import ConversationState, TurnContext

if TYPE_CHECKING:
    from bot.runtime import BotRuntime


@dataclass
class Trial:
    """What the dry run found."""

    text: str
    channel: str
    intent: str | None
    confidence: float
    language: language.Detection
    sentiment: sentiment.Sentiment
    message_count: int
    evaluations: list[Evaluation]
    fired: str | None = None  # the rule (or active flow's rule) that answers
    applied: list[str] = field(default_factory=list)  # tag/attribute-only rules that also ran
    reply: str | None = None  # what the bot would say (a knowledge action: the prefix, then the knowledge answer)
    knowledge: bool = False  # the knowledge base would answer (after the reply, if any)
    handoff: bool = False
    quick_replies: list[dict[str, str]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    flow: list[dict[str, Any]] = field(default_factory=list)
    state: ConversationState = field(default_factory=ConversationState)  # attributes and flow afterwards
    error: str | None = None  # a rule's action failed (e.g. a template the sandbox refused)
    http: list[dict[str, Any]] = field(default_factory=list)  # requests HTTP actions would send (not sent)
    offline: str | None = None  # a handoff now would find nobody to answer: why (the offline message is said)


def try_rules(
    runtime: BotRuntime,
    text: str,
    channel: str = "web",
    attributes: dict[str, Any] | None = None,
    slots: dict[str, Any] | None = None,
    count: int = 0,
    locale: str | None = None,
    now: datetime | None = None,
) -> Trial:
    """Dry-run the bot's rules on a message.

    Args:
        runtime: the bot's runtime (its intent classifier and current rules).
        text: the customer's message.
        channel: the channel it comes from.
        attributes: the customer's attributes (tags under "tags").
        slots: slot values collected earlier in the conversation.
        count: the message's number in the conversation (0: the first).
        locale: the conversation's locale, a hint for language detection.
        now: the moment, for time windows (default: now).

    Returns:
        Every rule's checks in priority order, and what the firing rule would do.
    """
    state = ConversationState(copy.deepcopy(attributes or {}), {"slots": dict(slots)} if slots else None, count)
    ctx = TurnContext(
        bot=runtime.profile, text=text, channel=channel, locale=locale, state=state, now=now, dry_run=True
    )
    for stage in runtime.pipeline.stages:
        if stage.name == "intent":
            stage.run(ctx)
    evaluations = evaluate_all(runtime.rules, ctx)
    applied, chosen = choose(evaluations)
    trial = Trial(
        text=text, channel=channel, intent=ctx.intent, confidence=ctx.confidence,
        language=language.detect(text, locale), sentiment=sentiment.score(text),
        message_count=message_count(ctx), evaluations=evaluations,
        fired=chosen.rule.name if chosen else None, applied=[e.rule.name for e in applied],
    )
    try:
        apply_rules(runtime.rules, ctx)
    except Exception as exc:  # the customer would get the stage's fallback; show why
        trial.error = f"{type(exc).__name__}: {exc}"
    trial.reply = ctx.reply if ctx.done else (ctx.prefix.strip() or None)
    trial.knowledge = ctx.trace.rule is not None and not ctx.done
    trial.handoff = ctx.trace.handoff
    trial.quick_replies = ctx.trace.quick_replies
    trial.actions = ctx.trace.actions
    trial.flow = ctx.trace.flow
    trial.http = ctx.trace.http
    trial.offline = ctx.trace.offline
    trial.state = ctx.state
    return trial

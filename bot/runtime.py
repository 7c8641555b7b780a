"""Everything one bot needs at run time, loaded once and shared by its conversations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bot import stages as _builtin_stages  # noqa: F401  (registers the built-in stages)
from bot.generation.base import Generator
from bot.generation.config import GenerationSettings
from bot.intents.classifier import IntentClassifier
from bot.pipeline import Pipeline, build_stages
from bot.rules import Rule
from bot.stages import DEFAULT_STAGES
from bot.types import BotProfile, BotReply, ConversationState, Emit, Turn, TurnContext
from knowledge.base import KnowledgeBase


@dataclass
class BotRuntime:
    """A bot's profile, knowledge base, intent model, rules and generator."""

    profile: BotProfile
    knowledge: KnowledgeBase
    generator: Generator
    generation: GenerationSettings
    intents: IntentClassifier | None = None
    rules: list[Rule] = field(default_factory=list)
    stage_names: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    handoff_after_out_of_scope: int = 2  # unanswerable messages in a row that ask for a person; 0: never

    def __post_init__(self) -> None:
        self.pipeline = Pipeline(build_stages(self.stage_names, self))

    def answer(
        self,
        text: str,
        history: list[Turn] | None = None,
        emit: Emit | None = None,
        cancel: threading.Event | None = None,
        channel: str = "web",
        locale: str | None = None,
        restart: Callable[[], None] | None = None,
        state: ConversationState | None = None,
    ) -> BotReply:
        """Run one customer turn through the pipeline.

        Args:
            text: the customer's message.
            history: earlier turns of the conversation, oldest first.
            emit: called with each streamed piece of the reply.
            cancel: set it to stop generation (customer left or sent another message).
            channel: where the message came from.
            locale: the customer's language tag, when known.
            restart: called when pieces already streamed must be discarded (a backend failed mid-answer).
            state: the conversation's attributes, slot-filling flow and message count; rule actions
                change it in place, and the reply carries it back.

        Returns:
            The reply, its citations and its trace.
        """
        ctx = TurnContext(bot=self.profile, text=text, history=history or [], channel=channel, locale=locale)
        if emit is not None:
            ctx.emit = emit
        if cancel is not None:
            ctx.cancel = cancel
        if restart is not None:
            ctx.restart = restart
        if state is not None:
            ctx.state = state
        reply = self.pipeline.run(ctx)
        reply.state = ctx.state
        return reply

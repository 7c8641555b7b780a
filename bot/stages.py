"""The built-in stages, registered exactly as a plugin would register its own."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.errors import GenerationBusy, generation_outcome
from bot.generation.base import GenerationRequest, Generator
from bot.generation.extractive import ExtractiveGenerator
from bot.grounding import check, citations_for
from bot.handoff import low_confidence_streak
from bot.intents import OUT_OF_SCOPE
from bot.pipeline import register_stage
from bot.rules import apply_rules
from bot.types import TurnContext

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

log = logging.getLogger(__name__)


@register_stage("intent")
class IntentStage:
    """Classify the message; 'oos' when the classifier is unsure."""

    name = "intent"

    def __init__(self, runtime: BotRuntime) -> None:
        self.runtime = runtime

    def run(self, ctx: TurnContext) -> None:
        """Set ctx.intent and ctx.confidence."""
        if self.runtime.intents is None:
            return
        prediction = self.runtime.intents.predict([ctx.text])[0]
        ctx.intent, ctx.confidence = prediction.intent, round(prediction.confidence, 4)
        ctx.trace.intent, ctx.trace.confidence = ctx.intent, ctx.confidence


@register_stage("rules")
class RulesStage:
    """Continue the slot-filling flow in progress, else answer from the first matching reply rule."""

    name = "rules"

    def __init__(self, runtime: BotRuntime) -> None:
        self.runtime = runtime

    def run(self, ctx: TurnContext) -> None:
        """Finish the turn when a flow or rule answers it (a knowledge action lets later stages answer)."""
        apply_rules(self.runtime.rules, ctx)


@register_stage("handoff")
class HandoffStage:
    """Ask for a person after too many messages in a row that the bot could not answer."""

    name = "handoff"

    def __init__(self, runtime: BotRuntime) -> None:
        self.runtime = runtime

    def run(self, ctx: TurnContext) -> None:
        """Finish the turn with the handoff notice when the streak reaches the bot's limit."""
        limit = self.runtime.handoff_after_out_of_scope
        if limit <= 0:
            return
        unanswered = ctx.search is not None and not ctx.search.confident
        streak = low_confidence_streak(ctx.history, unanswered)
        if streak >= limit:
            ctx.request_handoff("low_confidence")
            ctx.finish(ctx.bot.handoff)


@register_stage("retrieve")
class RetrieveStage:
    """Find the passages of the knowledge base that match the question."""

    name = "retrieve"

    def __init__(self, runtime: BotRuntime) -> None:
        self.runtime = runtime

    def run(self, ctx: TurnContext) -> None:
        """Set ctx.search and record the passages on the trace."""
        ctx.search = self.runtime.knowledge.search(ctx.text)
        ctx.trace.passages = [
            {k: v for k, v in hit.to_dict().items() if k != "text"} for hit in ctx.search.hits
        ]


@register_stage("generate")
class GenerateStage:
    """Write a grounded answer from the passages, streaming it; fall back to extractive."""

    name = "generate"

    def __init__(self, runtime: BotRuntime) -> None:
        self.runtime = runtime
        self.extractive = ExtractiveGenerator(runtime.knowledge.relevance)

    def run(self, ctx: TurnContext) -> None:
        """Finish the turn with a cited answer, or the honest fallback."""
        if ctx.search is None or not ctx.search.confident:
            ctx.trace.fallback_reason = "no relevant passage"
            ctx.finish(ctx.bot.fallback, fallback=True)
            return
        settings = self.runtime.generation
        request = GenerationRequest(
            question=ctx.text,
            passages=ctx.search.hits,
            bot=ctx.bot,
            history=ctx.history,
            locale=ctx.locale,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            cancel=ctx.cancel,
        )
        generator, answer = self._generate(request, ctx)
        if not answer.strip():
            ctx.trace.fallback_reason = "empty answer"
            ctx.finish(ctx.bot.fallback, fallback=True)
            return
        ctx.citations = citations_for(answer, request.passages)
        ctx.trace.grounding = check(answer, request.passages, ctx.citations)
        if not ctx.trace.grounding["ok"] and generator.backend != "extractive" and settings.on_ungrounded == "replace":
            ctx.trace.fallback_reason = "ungrounded answer replaced by extractive"
            ctx.restart()
            generator = self.extractive
            answer = self._stream(generator, request, ctx, [])
            ctx.citations = citations_for(answer, request.passages)
            ctx.trace.grounding = {**check(answer, request.passages, ctx.citations), "replaced": True}
        ctx.trace.backend, ctx.trace.model = generator.backend, generator.model
        ctx.finish(answer.strip(), stream=False)

    def _generate(self, request: GenerationRequest, ctx: TurnContext) -> tuple[Generator, str]:
        """Stream from the configured backend; on failure, or when it is busy, from the extractive one.

        Raises:
            GenerationBusy: the backend is full and the passages give no extractive answer either; the
                server refuses the turn as busy (the same answer as a full wait queue).
        """
        generator = self.runtime.generator
        pieces: list[str] = []
        try:
            return generator, self._stream(generator, request, ctx, pieces)
        except Exception as exc:
            if generator.backend == "extractive":
                raise
            state = "is busy" if generation_outcome(exc) == "busy" else "failed"  # busy: full, not broken
            log.warning("generation backend %s %s, using extractive: %s", generator.backend, state, exc)
            ctx.trace.fallback_reason = fallback_reason(generator.backend, exc)
            if pieces:
                ctx.restart()
            answer = self._stream(self.extractive, request, ctx, [])
            if isinstance(exc, GenerationBusy) and not answer.strip():
                raise
            return self.extractive, answer

    @staticmethod
    def _stream(generator: Generator, request: GenerationRequest, ctx: TurnContext, pieces: list[str]) -> str:
        """Stream a backend's pieces to the customer, collecting them in pieces."""
        for piece in generator.stream(request):
            pieces.append(piece)
            ctx.emit(piece)
        return "".join(pieces)


def fallback_reason(backend: str, exc: BaseException) -> str:
    """The trace's reason for an extractive answer: '<backend> busy|timeout|failed: <exception class>'.

    'busy' (the backend is full, not broken) and 'timeout' are kept apart from 'failed' so that the
    trace and the metrics do not count back-pressure as an outage.
    """
    outcome = generation_outcome(exc)
    word = outcome if outcome in ("busy", "timeout") else "failed"
    return f"{backend} {word}: {type(exc).__name__}"


DEFAULT_STAGES = ["intent", "rules", "retrieve", "handoff", "generate"]
__all__ = ["DEFAULT_STAGES", "OUT_OF_SCOPE"]

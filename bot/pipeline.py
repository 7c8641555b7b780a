"""The pipeline: an ordered list of stages, each a small object with one method."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bot.errors import ConfigError, GenerationBusy
from bot.types import BotReply, StageRecord, TurnContext

if TYPE_CHECKING:
    from bot.runtime import BotRuntime

log = logging.getLogger(__name__)


class Stage(Protocol):
    """One step of a turn. It reads and updates the context; ctx.finish() ends the turn."""

    name: str

    def run(self, ctx: TurnContext) -> None:
        """Do this stage's work on the turn."""


StageFactory = Callable[["BotRuntime"], Stage]
STAGES: dict[str, StageFactory] = {}


def register_stage(name: str) -> Callable[[StageFactory], StageFactory]:
    """Register a stage factory under a name; built-in stages use this too."""

    def register(factory: StageFactory) -> StageFactory:
        STAGES[name] = factory
        return factory

    return register


def build_stages(names: list[str], runtime: BotRuntime) -> list[Stage]:
    """Instantiate stages by name for one bot."""
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"unknown pipeline stage(s) {unknown}; known: {sorted(STAGES)}")
    return [STAGES[n](runtime) for n in names]


class Pipeline:
    """Runs stages in order; a failing stage is recorded and the turn falls through."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def run(self, ctx: TurnContext) -> BotReply:
        """Take a turn through every stage until one finishes it; returns a reply unless refused as busy.

        Raises:
            GenerationBusy: a stage found the generation backend full and had no other answer; the
                turn is refused as busy (nothing was streamed), so the customer can retry.
        """
        for stage in self.stages:
            if ctx.done or ctx.cancel.is_set():
                break
            started = time.perf_counter()
            try:
                stage.run(ctx)
                record = StageRecord(stage.name, _ms(started), "ok")
            except GenerationBusy:  # the model is full and nothing else answers: the server says busy
                raise
            except Exception as exc:  # a stage must never take the conversation down
                log.exception("stage %s failed", stage.name)
                record = StageRecord(stage.name, _ms(started), "error", f"{type(exc).__name__}: {exc}"[:300])
            ctx.trace.stages.append(record)
        ctx.trace.cancelled = ctx.cancel.is_set()
        if ctx.reply is None:
            ctx.trace.fallback_reason = ctx.trace.fallback_reason or "no stage answered"
            ctx.finish(ctx.bot.fallback, fallback=True)
        return BotReply(ctx.reply or "", ctx.citations, ctx.intent, ctx.fallback, ctx.trace)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

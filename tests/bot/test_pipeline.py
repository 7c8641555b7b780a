"""The pipeline: stages run in order, failures are traced, and every turn gets a reply."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import bot.pipeline
from bot.errors import ConfigError
from bot.pipeline import STAGES, Pipeline, build_stages, register_stage
from bot.rules import Rule
from bot.runtime import BotRuntime
from bot.types import BotProfile, TurnContext
from knowledge.base import KnowledgeBase

MakeRuntime = Callable[..., BotRuntime]


class Boom:
    name = "boom"

    def run(self, ctx: TurnContext) -> None:
        raise RuntimeError("index on fire")


class Answer:
    name = "answer"

    def __init__(self, text: str = "Here you go.") -> None:
        self.text = text
        self.runs = 0

    def run(self, ctx: TurnContext) -> None:
        self.runs += 1
        ctx.finish(self.text)


class Note:
    name = "note"

    def run(self, ctx: TurnContext) -> None:
        ctx.trace.rule = "noted"


def test_a_failing_stage_is_traced_and_the_turn_gets_the_bots_fallback(profile: BotProfile) -> None:
    emitted: list[str] = []
    ctx = TurnContext(bot=profile, text="hi", emit=emitted.append)

    reply = Pipeline([Note(), Boom()]).run(ctx)

    assert reply.text == profile.fallback
    assert reply.fallback is True
    assert emitted == [profile.fallback]
    stages = reply.trace.stages
    assert [(s.stage, s.status) for s in stages] == [("note", "ok"), ("boom", "error")]
    assert stages[1].error == "RuntimeError: index on fire"
    assert stages[0].error is None
    assert all(s.ms >= 0 for s in stages)
    assert reply.trace.fallback_reason == "no stage answered"


def test_stages_after_a_failure_still_run(profile: BotProfile) -> None:
    reply = Pipeline([Boom(), Answer("Recovered.")]).run(TurnContext(bot=profile, text="hi"))

    assert (reply.text, reply.fallback) == ("Recovered.", False)
    assert [s.status for s in reply.trace.stages] == ["error", "ok"]


def test_a_finished_turn_skips_the_remaining_stages(profile: BotProfile) -> None:
    later = Answer("never")

    reply = Pipeline([Answer("first"), later]).run(TurnContext(bot=profile, text="hi"))

    assert reply.text == "first"
    assert later.runs == 0
    assert [s.stage for s in reply.trace.stages] == ["answer"]


def test_a_cancelled_turn_runs_no_stage_and_falls_back(profile: BotProfile) -> None:
    ctx = TurnContext(bot=profile, text="hi")
    ctx.cancel.set()
    stage = Answer()

    reply = Pipeline([stage]).run(ctx)

    assert stage.runs == 0
    assert reply.fallback is True
    assert reply.trace.stages == []


def test_long_errors_are_truncated_on_the_trace(profile: BotProfile) -> None:
    class Verbose:
        name = "verbose"

        def run(self, ctx: TurnContext) -> None:
            raise ValueError("x" * 1000)

    reply = Pipeline([Verbose()]).run(TurnContext(bot=profile, text="hi"))

    assert len(reply.trace.stages[0].error or "") == 300


def test_unknown_stage_names_raise_config_error_listing_known_ones(
    make_runtime: MakeRuntime,
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_runtime(stage_names=["intent", "retreive", "generate"])

    message = str(caught.value)
    assert "retreive" in message
    for known in ("intent", "rules", "retrieve", "generate"):
        assert f"'{known}'" in message


def test_build_stages_refuses_unknown_names_before_building_any(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()

    with pytest.raises(ConfigError, match="nope"):
        build_stages(["retrieve", "nope"], runtime)


def test_a_custom_stage_registered_like_a_plugin_runs(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.pipeline, "STAGES", dict(STAGES))  # leave the registry as it was

    @register_stage("opening-hours")
    class OpeningHours:
        name = "opening-hours"

        def __init__(self, runtime: BotRuntime) -> None:
            self.bot_name = runtime.profile.name

        def run(self, ctx: TurnContext) -> None:
            if "open" in ctx.text.lower():
                ctx.finish(f"{self.bot_name} opens at nine.")

    runtime = make_runtime(stage_names=["intent", "rules", "opening-hours", "retrieve", "generate"])

    reply = runtime.answer("When do you open?")
    assert reply.text == "Acme opens at nine."
    assert [s.stage for s in reply.trace.stages] == ["intent", "rules", "opening-hours"]
    assert "opening-hours" not in STAGES


def test_default_pipeline_answers_from_the_knowledge_base(make_runtime: MakeRuntime) -> None:
    emitted: list[str] = []

    reply = make_runtime().answer("How long does standard shipping take?", emit=emitted.append)

    assert "5 business days" in reply.text
    assert reply.text.endswith("[1]")
    assert reply.fallback is False
    assert "".join(emitted) == reply.text
    assert [c.document for c in reply.citations] == ["Shipping"]
    trace = reply.trace
    assert [(s.stage, s.status) for s in trace.stages] == [
        ("intent", "ok"),
        ("rules", "ok"),
        ("retrieve", "ok"),
        ("handoff", "ok"),
        ("generate", "ok"),
    ]
    assert trace.passages and "text" not in trace.passages[0]
    assert trace.passages[0]["document_id"] == "shipping"
    assert (trace.backend, trace.model) == ("extractive", "extractive")
    assert set(trace.to_dict()["latency_ms"]) == {"intent", "rules", "handoff", "retrieve", "generate"}


def test_a_matching_rule_answers_before_retrieval(make_runtime: MakeRuntime) -> None:
    rule = Rule(name="human", reply="Connecting you to {{ bot.name }} staff.", keywords=["human"])
    emitted: list[str] = []

    reply = make_runtime(rules=[rule]).answer("I want a human", emit=emitted.append)

    assert reply.text == "Connecting you to Acme staff."
    assert emitted == [reply.text]
    assert reply.trace.rule == "human"
    assert [s.stage for s in reply.trace.stages] == ["intent", "rules"]


def test_a_rule_template_blocked_by_the_sandbox_fails_only_its_stage(
    make_runtime: MakeRuntime,
) -> None:
    rule = Rule(name="evil", reply="{{ ''.__class__.__mro__ }}", keywords=["shipping"])

    reply = make_runtime(rules=[rule]).answer("How long does standard shipping take?")

    assert [(s.stage, s.status) for s in reply.trace.stages][1] == ("rules", "error")
    assert "SecurityError" in (reply.trace.stages[1].error or "")
    assert "5 business days" in reply.text  # the knowledge base still answered


def test_a_failing_knowledge_base_gives_the_fallback(
    make_runtime: MakeRuntime, knowledge: KnowledgeBase
) -> None:
    class BrokenKnowledge(KnowledgeBase):
        def search(self, query: str, k: int | None = None):  # type: ignore[no-untyped-def]
            raise OSError("index file unreadable")

    broken = BrokenKnowledge(knowledge.folder, knowledge.embedder, knowledge.settings)

    reply = make_runtime(knowledge=broken).answer("How long does shipping take?")

    assert reply.fallback is True
    assert reply.text == "Sorry, I don't know that one."
    statuses = {s.stage: s.status for s in reply.trace.stages}
    assert statuses["retrieve"] == "error"
    assert reply.trace.fallback_reason == "no relevant passage"

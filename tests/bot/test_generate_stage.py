"""The generate stage: stream a cited answer, fall back to extractive, or say it does not know."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.errors import GenerationUnavailable
from bot.generation.config import GenerationSettings
from bot.runtime import BotRuntime
from tests.fakes import ScriptedGenerator

MakeRuntime = Callable[..., BotRuntime]
QUESTION = "How long does standard shipping take?"


def test_the_backend_answer_is_streamed_cited_and_checked(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator(["Standard shipping ", "takes 5 business days [1]. "])
    emitted: list[str] = []

    reply = make_runtime(generator=backend).answer(QUESTION, emit=emitted.append)

    assert emitted == ["Standard shipping ", "takes 5 business days [1]. "]
    assert reply.text == "Standard shipping takes 5 business days [1]."
    assert reply.fallback is False
    assert [(c.n, c.document) for c in reply.citations] == [(1, "Shipping")]
    trace = reply.trace
    assert (trace.backend, trace.model, trace.fallback_reason) == ("fake", "fake-model", None)
    assert trace.grounding["ok"] is True
    request = backend.requests[0]
    assert request.question == QUESTION
    assert request.passages[0].chunk.document_id == "shipping"


def test_an_invented_number_is_flagged_on_the_trace(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator(["Standard shipping takes 9 business days [1]."])
    settings = GenerationSettings(on_ungrounded="flag")

    reply = make_runtime(generator=backend, generation=settings).answer(QUESTION)

    assert reply.text == "Standard shipping takes 9 business days [1]."
    assert reply.trace.grounding["unsupported_numbers"] == ["9"]
    assert reply.trace.grounding["ok"] is False


def test_an_ungrounded_answer_is_replaced_and_the_stream_restarted(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator(["Standard shipping takes 9 business days."], backend="openai")
    emitted: list[str] = []

    def restart() -> None:
        emitted.clear()

    reply = make_runtime(generator=backend).answer(QUESTION, emit=emitted.append, restart=restart)

    assert "9 business days" not in reply.text and reply.text.endswith("[1]")
    assert "".join(emitted).strip() == reply.text
    assert reply.trace.grounding["replaced"] is True and reply.trace.backend == "extractive"
    assert reply.trace.fallback_reason == "ungrounded answer replaced by extractive"


def test_a_failing_backend_falls_back_to_extractive(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator(
        [], error=GenerationUnavailable("server answered 503"), backend="openai"
    )
    emitted: list[str] = []

    reply = make_runtime(generator=backend).answer(QUESTION, emit=emitted.append)

    assert reply.text.startswith("Standard shipping takes 5 business days.")
    assert reply.text.endswith("[1]")
    assert "".join(emitted) == reply.text
    assert reply.fallback is False
    assert [c.n for c in reply.citations] == [1]
    assert reply.trace.fallback_reason == "openai failed: GenerationUnavailable"
    assert (reply.trace.backend, reply.trace.model) == ("extractive", "extractive")
    assert reply.trace.stages[-1].status == "ok"


def test_any_backend_exception_falls_back_to_extractive(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator([], error=RuntimeError("CUDA out of memory"), backend="local")

    reply = make_runtime(generator=backend).answer(QUESTION)

    assert reply.trace.fallback_reason == "local failed: RuntimeError"
    assert reply.text.endswith("[1]")


def test_streamed_pieces_add_up_to_the_reply_when_a_backend_fails_mid_answer(
    make_runtime: MakeRuntime,
) -> None:
    backend = ScriptedGenerator(
        ["Standard shipping is "], error=GenerationUnavailable("reset"), backend="openai"
    )
    emitted: list[str] = []

    def restart() -> None:
        emitted.clear()

    reply = make_runtime(generator=backend).answer(QUESTION, emit=emitted.append, restart=restart)

    assert "".join(emitted).strip() == reply.text
    assert "Standard shipping is " not in emitted


def test_a_failing_extractive_backend_is_an_error_and_the_bot_falls_back(
    make_runtime: MakeRuntime,
) -> None:
    backend = ScriptedGenerator([], error=ValueError("encoder broke"), backend="extractive")

    reply = make_runtime(generator=backend).answer(QUESTION)

    assert reply.fallback is True
    assert reply.text == "Sorry, I don't know that one."
    assert (reply.trace.stages[-1].stage, reply.trace.stages[-1].status) == ("generate", "error")


def test_not_confident_gives_the_bots_fallback(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator(["should not be asked"])
    emitted: list[str] = []

    reply = make_runtime(generator=backend).answer("zebra saxophone quantum", emit=emitted.append)

    assert (reply.text, reply.fallback) == ("Sorry, I don't know that one.", True)
    assert emitted == [reply.text]
    assert reply.citations == []
    assert reply.trace.fallback_reason == "no relevant passage"
    assert backend.requests == []


@pytest.mark.parametrize("pieces", [[], ["  ", "\n"]])
def test_an_empty_answer_gives_the_bots_fallback(
    make_runtime: MakeRuntime, pieces: list[str]
) -> None:
    reply = make_runtime(generator=ScriptedGenerator(pieces)).answer(QUESTION)

    assert (reply.text, reply.fallback) == ("Sorry, I don't know that one.", True)
    assert reply.trace.fallback_reason == "empty answer"


def test_generation_settings_reach_the_backend(make_runtime: MakeRuntime) -> None:
    backend = ScriptedGenerator(["Five days [1]."])

    make_runtime(
        generator=backend, generation=GenerationSettings(max_new_tokens=42, temperature=0.7)
    ).answer(QUESTION, locale="en-GB")

    request = backend.requests[0]
    assert (request.max_new_tokens, request.temperature, request.locale) == (42, 0.7, "en-GB")

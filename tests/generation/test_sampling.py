"""Sampling options reach both local engines; what the batched engine cannot apply is refused at config time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.generation.base import GenerationRequest
from bot.generation.config import GenerationSettings
from bot.generation.local import LocalGenerator
from bot.generation.openai_compat import OpenAIGenerator
from bot.types import BotProfile
from knowledge.types import ChunkRecord, Hit
from tests.generation.tiny_llm import build_tiny_llm

ENGINES = ["batched", "sequential"]
NEW_TOKENS = 20
QUESTIONS = (3, 11)  # question lengths in words


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-sampling"))


def chat_request(words: int) -> GenerationRequest:
    chunk = ChunkRecord(1, "d", "w1 w2 w3 w4", "Doc", "", "", "/kb/x")
    question = " ".join(f"w{(5 * i + words) % 58}" for i in range(words))
    return GenerationRequest(
        question=question,
        passages=[Hit(chunk, 0.9, 0.1, 0, 0)],
        bot=BotProfile("d", "D"),
        max_new_tokens=NEW_TOKENS,
    )


def answers(model_dir: Path, engine: str, **options: Any) -> list[str]:
    """The answers to QUESTIONS from a freshly loaded generator with these decoding options."""
    settings = GenerationSettings(backend="local", model_path=str(model_dir), device="cpu", engine=engine, **options)
    gen = LocalGenerator(settings)
    try:
        temperature = options.get("temperature", 0.0)
        out = []
        for words in QUESTIONS:
            request = chat_request(words)
            request.temperature = temperature  # as the generate stage passes it
            out.append("".join(gen.stream(request)))
        return out
    finally:
        gen.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_top_k_1_and_a_tiny_top_p_turn_sampling_into_the_greedy_answer(model_dir: Path, engine: str) -> None:
    greedy = answers(model_dir, engine)
    assert all(len(a.split()) > 5 for a in greedy)
    sampled = answers(model_dir, engine, temperature=1.5)  # control: sampling alone does change the answers
    assert sampled != greedy
    assert answers(model_dir, engine, temperature=1.5, top_k=1) == greedy
    assert answers(model_dir, engine, temperature=1.5, top_p=1e-6) == greedy


def test_the_engines_agree_on_greedy_answers(model_dir: Path) -> None:
    assert answers(model_dir, "batched") == answers(model_dir, "sequential")


def test_decoding_config_carries_the_settings_and_not_the_model_folders_defaults(model_dir: Path) -> None:
    gen = LocalGenerator(
        GenerationSettings(
            backend="local", model_path=str(model_dir), device="cpu", temperature=0.7, top_k=20, top_p=0.8
        )
    )
    try:
        config = gen.generation_config
        assert (config.do_sample, config.temperature, config.top_k, config.top_p) == (True, 0.7, 20, 0.8)
        assert config.repetition_penalty in (None, 1.0)
        manager = gen.lm.init_continuous_batching(
            generation_config=config, continuous_batching_config=gen.batcher._cb_config()
        )
        kinds = {type(p).__name__ for p in manager.logit_processor.logits_processor}
        assert {
            "ContinuousBatchingTemperatureLogitsWarper",
            "ContinuousBatchingTopKLogitsWarper",
            "ContinuousBatchingTopPLogitsWarper",
        } <= kinds
    finally:
        gen.close()


def test_repetition_penalty_is_applied_by_the_sequential_engine(model_dir: Path) -> None:
    plain = answers(model_dir, "sequential")
    penalised = answers(model_dir, "sequential", repetition_penalty=3.0)
    assert penalised != plain


def test_the_batched_engine_refuses_repetition_penalty_at_config_time(model_dir: Path) -> None:
    with pytest.raises(ValidationError, match="repetition_penalty is not implemented by the local batched engine"):
        GenerationSettings(backend="local", repetition_penalty=1.1)
    unchecked = GenerationSettings.model_construct(
        backend="local", model_path=str(model_dir), device="cpu", repetition_penalty=1.1
    )
    with pytest.raises(ConfigError, match="does not implement repetition_penalty"):
        LocalGenerator(unchecked)
    assert GenerationSettings(backend="openai", repetition_penalty=1.1).repetition_penalty == 1.1


def test_top_k_or_top_p_without_sampling_is_a_clear_error() -> None:
    for option in ({"top_k": 5}, {"top_p": 0.9}):
        with pytest.raises(ValidationError, match="apply only when sampling"):
            GenerationSettings(**option)


def test_the_openai_backend_sends_the_sampling_options_only_when_set() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, content=stream(), headers={"content-type": "text/event-stream"})

    def stream() -> Iterator[bytes]:
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "ok"}}]}\n\n'
        yield b"data: [DONE]\n\n"

    for options in ({}, {"temperature": 0.5, "top_k": 7, "top_p": 0.9, "repetition_penalty": 1.2}):
        gen = OpenAIGenerator(GenerationSettings(backend="openai", **options), transport=httpx.MockTransport(handler))
        assert "".join(gen.stream(chat_request(2))) == "ok"
        gen.close()
    assert not {"top_k", "top_p", "repetition_penalty"} & set(bodies[0])
    assert (bodies[1]["top_k"], bodies[1]["top_p"], bodies[1]["repetition_penalty"]) == (7, 0.9, 1.2)

"""The local transformers backend, exercised with a tiny random-weight model built on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.generation.base import GenerationRequest
from bot.generation.config import GenerationSettings
from bot.generation.local import LocalGenerator
from bot.types import BotProfile
from knowledge.types import ChunkRecord, Hit
from tests.generation.tiny_llm import build_tiny_llm


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with random weights and a word-level tokenizer with a chat template."""
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


def request(**kwargs) -> GenerationRequest:  # type: ignore[no-untyped-def]
    chunk = ChunkRecord(1, "d", "Standard shipping takes 3-5 business days.", "Shipping", "", "", "/kb/x")
    return GenerationRequest(
        question="how long does shipping take",
        passages=[Hit(chunk, 0.9, 0.1, 0, 0)],
        bot=BotProfile("demo", "Demo"),
        **kwargs,
    )


def test_streams_text_from_a_local_folder(tiny_model: Path) -> None:
    generator = LocalGenerator(GenerationSettings(backend="local", model_path=str(tiny_model), device="cpu"))
    assert generator.device == "cpu" and generator.model == tiny_model.name
    pieces = list(generator.stream(request(max_new_tokens=12)))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert len("".join(pieces).split()) <= 12


def test_cancel_stops_generation_early(tiny_model: Path) -> None:
    generator = LocalGenerator(GenerationSettings(backend="local", model_path=str(tiny_model), device="cpu"))
    cancel = threading.Event()
    received = []
    for piece in generator.stream(request(max_new_tokens=200, cancel=cancel)):
        received.append(piece)
        cancel.set()
    assert 1 <= len("".join(received).split()) < 50


def test_missing_or_absent_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MODEL_PATH"):
        LocalGenerator(GenerationSettings(backend="local"))
    with pytest.raises(ConfigError, match="not found"):
        LocalGenerator(GenerationSettings(backend="local", model_path=str(tmp_path / "nope")))

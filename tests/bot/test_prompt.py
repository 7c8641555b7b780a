"""The grounded prompt and the backend factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.generation.base import GenerationRequest
from bot.generation.config import GenerationSettings
from bot.generation.extractive import ExtractiveGenerator
from bot.generation.factory import create_generator
from bot.generation.prompt import INSTRUCTIONS, build_messages, format_passages
from bot.types import BotProfile, Turn
from knowledge.rerank import Relevance
from tests.fakes import HashEmbedder, make_hit

BOT = BotProfile(slug="acme", name="Acme", persona="Speak like a pirate.")


def request(history: list[Turn] | None = None) -> GenerationRequest:
    passages = [
        make_hit("Ships in 5 days.", chunk_id=1, title="Shipping", section="Standard"),
        make_hit("We take PayPal.", chunk_id=2, title="Payment"),
    ]
    return GenerationRequest(
        question="How fast?", passages=passages, bot=BOT, history=history or []
    )


def test_passages_are_numbered_with_their_source() -> None:
    assert format_passages(request()) == (
        '<passages>\n<passage n="1">\n[1] Shipping - Standard:\nShips in 5 days.\n</passage>\n'
        '<passage n="2">\n[2] Payment:\nWe take PayPal.\n</passage>\n</passages>'
    )


def test_messages_carry_persona_instructions_and_the_question() -> None:
    messages = build_messages(request())

    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith(
        "You are Acme's customer-service assistant. Speak like a pirate."
    )
    assert INSTRUCTIONS in messages[0]["content"]
    assert (
        messages[1]["content"] == f"Passages:\n{format_passages(request())}\n\nQuestion: How fast?"
    )


def test_only_recent_history_is_sent_with_roles_mapped() -> None:
    history = [Turn("customer", f"c{i}") if i % 2 == 0 else Turn("bot", f"b{i}") for i in range(5)]
    history.append(Turn("agent", "a5"))

    messages = build_messages(request(history), history_turns=3)

    assert [(m["role"], m["content"]) for m in messages[1:-1]] == [
        ("assistant", "b3"),
        ("user", "c4"),
        ("assistant", "a5"),
    ]
    assert len(build_messages(request(history), history_turns=0)) == 2


def test_the_factory_builds_extractive_by_default() -> None:
    assert isinstance(
        create_generator(GenerationSettings(), Relevance(HashEmbedder(), None)), ExtractiveGenerator
    )


def test_the_factory_refuses_an_unknown_backend_listing_the_known_ones() -> None:
    settings = GenerationSettings.model_construct(backend="gpt-in-a-box")

    with pytest.raises(ConfigError, match="'gpt-in-a-box'.*extractive.*local.*openai"):
        create_generator(settings, Relevance(HashEmbedder(), None))


def test_the_local_backend_needs_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MODEL_PATH"):
        create_generator(GenerationSettings(backend="local"), Relevance(HashEmbedder(), None))
    with pytest.raises(ConfigError, match="not found"):
        create_generator(
            GenerationSettings(backend="local", model_path=str(tmp_path / "none")),
            Relevance(HashEmbedder(), None),
        )

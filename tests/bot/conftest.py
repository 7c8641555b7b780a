"""Fixtures for the bot tests: a fake embedder, a small knowledge base and a runtime factory."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# tests/fakes.py is imported as `tests.fakes`; pytest's default import mode does not put the
# repository root on sys.path when it is started as `.venv/bin/pytest`.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from bot.generation.config import GenerationSettings  # noqa: E402
from bot.generation.extractive import ExtractiveGenerator  # noqa: E402
from bot.runtime import BotRuntime  # noqa: E402
from bot.types import BotProfile  # noqa: E402
from knowledge.base import KnowledgeBase  # noqa: E402
from knowledge.config import KnowledgeSettings  # noqa: E402
from tests.fakes import HashEmbedder  # noqa: E402

HELP_CENTER = {
    "shipping": (
        "Shipping",
        "# Shipping\n\nStandard shipping takes 5 business days. "
        "Express shipping arrives the next day. "
        "Orders placed before noon leave the warehouse the same day.",
    ),
    "returns": (
        "Returns",
        "# Returns\n\nReturns are accepted within 30 days of delivery. "
        "Refunds reach your card in 7 days.",
    ),
    "payment": ("Payment", "# Payment\n\nWe accept Visa, Mastercard and PayPal at checkout."),
}

MakeRuntime = Callable[..., BotRuntime]


@pytest.fixture
def embedder() -> HashEmbedder:
    """A fresh fake embedding model."""
    return HashEmbedder()


@pytest.fixture
def profile() -> BotProfile:
    """The bot the customer talks to."""
    return BotProfile(
        slug="acme", name="Acme", persona="Be brief.", fallback="Sorry, I don't know that one."
    )


@pytest.fixture
def knowledge(tmp_path: Path, embedder: HashEmbedder) -> KnowledgeBase:
    """A knowledge base holding a three-article help center."""
    kb = KnowledgeBase(tmp_path / "kb", embedder, KnowledgeSettings(min_score=0.3))
    for doc_id, (title, text) in HELP_CENTER.items():
        kb.upsert(doc_id, kb.chunk(doc_id, title, text, f"/kb/acme/{doc_id}"))
    return kb


@pytest.fixture
def make_runtime(profile: BotProfile, knowledge: KnowledgeBase) -> MakeRuntime:
    """Build a BotRuntime over the help center; keyword arguments override its fields."""

    def build(**overrides: Any) -> BotRuntime:
        fields: dict[str, Any] = {
            "profile": profile,
            "knowledge": knowledge,
            "generator": ExtractiveGenerator(knowledge.relevance),
            "generation": GenerationSettings(),
        }
        fields.update(overrides)
        return BotRuntime(**fields)

    return build

"""GeneratorContract: what every generation backend must do; backend tests subclass it."""

from __future__ import annotations

import threading

import pytest

from bot.generation.base import GenerationRequest, Generator
from bot.types import BotProfile
from tests.fakes import make_hit

PASSAGE = (
    "Our store opens at nine. Standard shipping takes 5 business days. "
    "Returns are accepted within 30 days of delivery."
)


def make_request(
    question: str = "How long does standard shipping take?",
    passages: list[str] | None = None,
    cancel: threading.Event | None = None,
) -> GenerationRequest:
    """A request over numbered passages (default: one help-center passage)."""
    texts = [PASSAGE] if passages is None else passages
    hits = [make_hit(t, chunk_id=i + 1, title=f"Doc {i + 1}") for i, t in enumerate(texts)]
    return GenerationRequest(
        question=question,
        passages=hits,
        bot=BotProfile(slug="acme", name="Acme", persona="Be brief."),
        cancel=cancel or threading.Event(),
    )


class GeneratorContract:
    """Subclasses provide the `generator` fixture and the `expected_answer` it should stream."""

    @pytest.fixture
    def generator(self) -> Generator:
        raise NotImplementedError

    @pytest.fixture
    def expected_answer(self) -> str:
        raise NotImplementedError

    def test_names_its_backend_and_model(self, generator: Generator) -> None:
        assert isinstance(generator.backend, str) and generator.backend
        assert isinstance(generator.model, str) and generator.model

    def test_streams_pieces_whose_concatenation_is_the_answer(
        self, generator: Generator, expected_answer: str
    ) -> None:
        pieces = list(generator.stream(make_request()))

        assert len(pieces) > 1
        assert all(isinstance(p, str) and p for p in pieces)
        assert "".join(pieces) == expected_answer

    def test_yields_nothing_when_cancelled_before_start(self, generator: Generator) -> None:
        cancel = threading.Event()
        cancel.set()

        assert list(generator.stream(make_request(cancel=cancel))) == []

    def test_stops_when_cancelled_mid_stream(
        self, generator: Generator, expected_answer: str
    ) -> None:
        request = make_request()
        stream = iter(generator.stream(request))
        first = next(stream)

        request.cancel.set()

        assert list(stream) == []
        assert expected_answer.startswith(first)

"""The extractive answer calls the relevance model only when there is a choice to make."""

from __future__ import annotations

import numpy as np

from bot.generation.extractive import ExtractiveGenerator
from tests.bot.generator_contract import make_request


class CountingRelevance:
    """Scores by length and counts calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, query: str, texts: list[str]) -> np.ndarray:
        self.calls.append(texts)
        return np.array([len(t) for t in texts], dtype=np.float32)


def test_a_passage_of_one_sentence_is_quoted_without_a_model_call() -> None:
    relevance = CountingRelevance()
    answer = ExtractiveGenerator(relevance).select(make_request("Ship times?", ["Shipping takes 5 days."]))
    assert answer == "Shipping takes 5 days. [1]"
    assert relevance.calls == []


def test_a_passage_of_several_sentences_is_scored_once() -> None:
    relevance = CountingRelevance()
    request = make_request("Ship times?", ["Shipping takes 5 days. Returns are free. We open at nine."])
    answer = ExtractiveGenerator(relevance).select(request)
    assert len(relevance.calls) == 1 and len(relevance.calls[0]) == 6
    assert answer == "Shipping takes 5 days. Returns are free. We open at nine. [1]"

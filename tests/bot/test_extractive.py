"""The extractive backend: quote the span of the top passage that best answers the question."""

from __future__ import annotations

import pytest

from bot.generation.extractive import ExtractiveGenerator, answer_units, join_units, windows
from knowledge.rerank import Relevance
from tests.bot.generator_contract import GeneratorContract, make_request
from tests.fakes import HashEmbedder


@pytest.fixture
def extractive() -> ExtractiveGenerator:
    return ExtractiveGenerator(Relevance(HashEmbedder(), None))


class TestExtractiveContract(GeneratorContract):
    @pytest.fixture
    def generator(self, extractive: ExtractiveGenerator) -> ExtractiveGenerator:
        return extractive

    @pytest.fixture
    def expected_answer(self) -> str:
        return "Standard shipping takes 5 business days. [1]"


def test_answer_units_strip_markdown_and_skip_headings_and_tables() -> None:
    text = (
        "## Returns\n- **Free** returns\n1. Call `support`. Then wait.\n| a | b |\n\n"
        "* __Bold__ item"
    )

    assert answer_units(text) == ["Free returns", "Call support.", "Then wait.", "Bold item"]


def test_picks_the_sentence_that_answers(extractive: ExtractiveGenerator) -> None:
    answer = extractive.select(make_request("When are returns accepted?"))

    assert answer == "Returns are accepted within 30 days of delivery. [1]"


def test_a_run_of_consecutive_sentences_can_be_the_answer(extractive: ExtractiveGenerator) -> None:
    request = make_request(
        "Is shipping free and does it take five days?",
        ["Our office is in Oslo. Shipping is free. Shipping takes five days. We love cats."],
    )

    assert extractive.select(request) == "Shipping is free. Shipping takes five days. [1]"


def test_windows_are_consecutive_runs_within_the_size_limits() -> None:
    assert windows(["a", "b", "c"], max_units=2, max_chars=100) == [
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 3),
        (2, 3),
    ]
    # each unit counts its length plus one; a single over-long unit is still a window
    assert windows(["x" * 10, "y" * 10, "z" * 30], max_units=3, max_chars=22) == [
        (0, 1),
        (0, 2),
        (1, 2),
        (2, 3),
    ]


def test_join_units_keeps_list_items_after_their_intro() -> None:
    assert (
        join_units(["We ship to:", "Norway", "Sweden", "Done."])
        == "We ship to: Norway; Sweden; Done."
    )
    assert join_units(["One.", "Two!", "三。", "Four"]) == "One. Two! 三。 Four"


def test_quotes_only_the_top_passage(extractive: ExtractiveGenerator) -> None:
    request = make_request(
        "How long does shipping take?", ["We open at nine.", "Shipping takes 5 days."]
    )

    assert extractive.select(request) == "We open at nine. [1]"


def test_chinese_sentences_are_units(extractive: ExtractiveGenerator) -> None:
    request = make_request(
        "快递需要几天？", ["我们九点开门。标准快递需要五个工作日。三十天内可以退货。"]
    )

    assert extractive.select(request) == "标准快递需要五个工作日。 [1]"


@pytest.mark.parametrize("passages", [[], ["## Only a heading\n| a | b |"]])
def test_nothing_to_quote_gives_an_empty_answer(
    extractive: ExtractiveGenerator, passages: list[str]
) -> None:
    request = make_request(passages=passages)

    assert extractive.select(request) == ""
    assert list(extractive.stream(request)) == []

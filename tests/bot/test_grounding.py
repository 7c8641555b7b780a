"""Grounding: [n] markers become citations; uncited answers and invented numbers are flagged."""

from __future__ import annotations

from bot.grounding import check, citations_for
from tests.fakes import make_hit

PASSAGES = [
    make_hit(
        "Standard shipping takes 5 business days.",
        chunk_id=101,
        title="Shipping",
        section="Standard",
        url="/kb/shipping#standard",
        score=0.81234,
    ),
    make_hit(
        "Returns are accepted within 30 days. Items cost $19.99 to return.",
        chunk_id=102,
        title="Returns",
        url="/kb/returns",
        score=0.7,
    ),
    make_hit("We accept PayPal.", chunk_id=103, title="Payment", url="/kb/payment", score=0.5),
]


def test_citations_follow_the_markers_in_the_answer() -> None:
    answer = "Returns take 30 days [2]; shipping 5 days [1]. Again [2]."

    citations = citations_for(answer, PASSAGES)

    assert [c.n for c in citations] == [1, 2]
    first = citations[0]
    assert (first.document, first.section, first.url, first.chunk_id, first.score) == (
        "Shipping",
        "Standard",
        "/kb/shipping#standard",
        101,
        0.8123,
    )
    assert first.snippet == "Standard shipping takes 5 business days."
    assert citations[1].document == "Returns"


def test_out_of_range_markers_are_ignored() -> None:
    assert citations_for("See [0], [4] and [12] and [99].", PASSAGES) == []
    assert [c.n for c in citations_for("Only [3] counts, not [4].", PASSAGES)] == [3]
    assert citations_for("Anything [1].", []) == []


def test_snippet_collapses_whitespace_and_is_cut_at_240_characters() -> None:
    hit = make_hit("word\n\n  " * 100)

    snippet = citations_for("[1]", [hit])[0].snippet

    assert snippet.endswith("…")
    assert len(snippet) == 241
    assert "\n" not in snippet and "  " not in snippet


def test_a_cited_answer_with_supported_numbers_is_ok() -> None:
    answer = "Returns are accepted within 30 days and cost $19.99 [2]."

    result = check(answer, PASSAGES, citations_for(answer, PASSAGES))

    assert result == {"cited": [2], "uncited": False, "unsupported_numbers": [], "ok": True}


def test_an_uncited_answer_is_flagged() -> None:
    answer = "We accept PayPal."

    result = check(answer, PASSAGES, citations_for(answer, PASSAGES))

    assert result["uncited"] is True
    assert result["cited"] == []
    assert result["ok"] is False


def test_numbers_missing_from_the_passages_are_flagged_but_markers_are_not() -> None:
    answer = "Refunds take 45 days, or 2.5 weeks [1][2]."

    result = check(answer, PASSAGES, citations_for(answer, PASSAGES))

    assert result["unsupported_numbers"] == ["2.5", "45"]
    assert result["ok"] is False


def test_a_number_that_is_only_part_of_a_passage_number_is_flagged() -> None:
    answer = "Returns are accepted within 3 days [2]."

    result = check(answer, PASSAGES, citations_for(answer, PASSAGES))

    assert result["unsupported_numbers"] == ["3"]

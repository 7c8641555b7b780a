"""BM25 keyword search: exact terms, titles and sections count, Chinese segmented by jieba."""

from __future__ import annotations

import pytest

from knowledge.keyword import KeywordIndex, tokenize
from tests.fakes import make_record

CHUNKS = [
    make_record("Use the tracking number in your confirmation email.", chunk_id=10, title="Orders"),
    make_record(
        "We ship to Canada and Mexico.", chunk_id=11, title="Shipping", section="Countries"
    ),
    make_record("Gift cards never expire.", chunk_id=12, title="Gift cards"),
    make_record("收到商品后七天内可以申请退货退款。", chunk_id=13, title="退货政策"),
    make_record("我们每天下午四点前发货。", chunk_id=14, title="发货时间"),
]


@pytest.fixture
def index() -> KeywordIndex:
    built = KeywordIndex()
    built.rebuild(CHUNKS)
    return built


def test_tokenize_lower_cases_and_drops_stop_words() -> None:
    assert tokenize("Where is MY Parcel?") == ["parcel"]


def test_tokenize_folds_plural_s_of_long_words_only() -> None:
    assert tokenize("orders order gifts cats") == ["order", "order", "gift", "cats"]


def test_tokenize_segments_chinese_with_jieba() -> None:
    tokens = tokenize("如何申请退货退款？")

    assert "退货" in tokens
    assert "退款" in tokens
    assert "如何申请退货退款" not in tokens


def test_tokenize_segments_chinese_glued_to_latin_words() -> None:
    assert "退货" in tokenize("iPhone退货")


def test_exact_term_ranks_its_chunk_first(index: KeywordIndex) -> None:
    hits = index.search("tracking number", 5)

    assert hits[0][0] == 10
    assert all(score > 0 for _, score in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_title_and_section_are_searchable(index: KeywordIndex) -> None:
    assert index.search("countries", 5)[0][0] == 11
    assert index.search("gift", 5)[0][0] == 12


def test_chinese_query_finds_the_chinese_chunk(index: KeywordIndex) -> None:
    assert index.search("怎么退货", 5)[0][0] == 13
    assert index.search("几点发货", 5)[0][0] == 14


@pytest.mark.parametrize("query", ["", "the of and", "zeppelin", "   "])
def test_queries_without_known_terms_find_nothing(index: KeywordIndex, query: str) -> None:
    assert index.search(query, 5) == []


def test_k_limits_the_hits(index: KeywordIndex) -> None:
    assert len(index.search("shipping tracking gift", 1)) == 1


def test_empty_index_finds_nothing() -> None:
    index = KeywordIndex()
    index.rebuild([])

    assert index.search("tracking", 5) == []


def test_rebuild_replaces_the_indexed_chunks(index: KeywordIndex) -> None:
    index.rebuild([make_record("Loyalty points double on Fridays.", chunk_id=99)])

    assert index.search("tracking", 5) == []
    assert [cid for cid, _ in index.search("loyalty points", 5)] == [99]

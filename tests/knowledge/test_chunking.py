"""Chunking: headings give section paths and anchors; text packs under a size limit."""

from __future__ import annotations

import random

import pytest

from knowledge.chunking import chunk_markdown, slugify, split_sections, split_sentences

DOC = """# Shipping

Intro paragraph about shipping.

## Standard shipping

Standard orders arrive in 3-5 business days.

### Remote areas

Remote areas may take longer.

## Express shipping

Express orders arrive the next day.
"""


def test_headings_become_section_paths_and_the_title_heading_is_dropped() -> None:
    sections = split_sections(DOC, "Shipping")

    assert [s.path for s in sections] == [
        [],
        ["Standard shipping"],
        ["Standard shipping", "Remote areas"],
        ["Express shipping"],
    ]
    assert sections[2].text == "Remote areas may take longer."


def test_a_first_heading_that_differs_from_the_title_is_a_section() -> None:
    sections = split_sections("# Other\n\nBody text.", "Shipping")

    assert [(s.path, s.text) for s in sections] == [(["Other"], "Body text.")]


def test_chunks_carry_title_section_and_anchor_of_their_heading() -> None:
    drafts = chunk_markdown(DOC, "Shipping")

    assert [(d.section, d.anchor) for d in drafts] == [
        ("", ""),
        ("Standard shipping", "standard-shipping"),
        ("Standard shipping > Remote areas", "remote-areas"),
        ("Express shipping", "express-shipping"),
    ]
    assert {d.title for d in drafts} == {"Shipping"}
    assert [d.position for d in drafts] == [0, 1, 2, 3]
    assert drafts[1].text == "Standard orders arrive in 3-5 business days."


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Returns & Refunds", "returns-refunds"),
        ("  Track_your  order ", "track-your-order"),
        ("退货 政策", "退货-政策"),
        ("!!!", "section"),
    ],
)
def test_slugify(heading: str, anchor: str) -> None:
    assert slugify(heading) == anchor


def test_short_paragraphs_are_packed_into_one_chunk_under_the_limit() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 15 for i in range(3)]  # ~95 chars each
    text = "\n\n".join(p.strip() for p in paragraphs)

    drafts = chunk_markdown(text, "T", chunk_chars=250, overlap_chars=0)

    assert [d.text for d in drafts] == [
        f"{paragraphs[0].strip()}\n\n{paragraphs[1].strip()}",
        paragraphs[2].strip(),
    ]


def test_an_over_long_paragraph_is_split_at_sentence_ends() -> None:
    sentences = [f"Sentence number {i} explains one more detail of the policy." for i in range(10)]
    drafts = chunk_markdown(" ".join(sentences), "T", chunk_chars=200, overlap_chars=0)

    assert len(drafts) > 1
    for draft in drafts:
        assert len(draft.text) <= 200
        assert draft.text.startswith("Sentence number")
        assert draft.text.endswith("policy.")
    rejoined = " ".join(" ".join(d.text.split()) for d in drafts)
    assert rejoined == " ".join(sentences)


def test_split_sentences_handles_latin_and_chinese_punctuation() -> None:
    assert split_sentences("It ships today. Tracking follows! Done?") == [
        "It ships today.",
        "Tracking follows!",
        "Done?",
    ]
    assert split_sentences("今天发货。请查收！需要帮助吗？好的") == [
        "今天发货。",
        "请查收！",
        "需要帮助吗？",
        "好的",
    ]


def test_split_sentences_keeps_abbreviations_before_lower_case_words() -> None:
    assert split_sentences("Use e.g. the app. Then wait.") == ["Use e.g. the app.", "Then wait."]


def test_a_long_chinese_paragraph_is_split_at_chinese_full_stops() -> None:
    sentence = "订单付款后我们会在两个工作日内安排发货并短信通知您。"  # 26 characters
    drafts = chunk_markdown(sentence * 12, "发货", chunk_chars=200, overlap_chars=0)

    assert len(drafts) > 1
    for draft in drafts:
        assert len(draft.text) <= 200
        assert draft.text.replace("\n", "").endswith("。")
    assert "".join(d.text.replace("\n", "") for d in drafts) == sentence * 12


def test_a_sentence_longer_than_the_limit_is_cut_hard() -> None:
    drafts = chunk_markdown("x" * 500, "T", chunk_chars=200, overlap_chars=50)

    assert [len(d.text) for d in drafts] == [200, 200, 100]


def test_overlap_repeats_the_trailing_sentences_of_the_previous_chunk() -> None:
    sentences = [f"Fact {i} is stated in this sentence." for i in range(12)]  # 32-33 chars each
    drafts = chunk_markdown(" ".join(sentences), "T", chunk_chars=200, overlap_chars=80)

    assert len(drafts) >= 3
    for before, after in zip(drafts, drafts[1:], strict=False):
        previous_sentences = split_sentences(before.text.replace("\n\n", " "))
        carried = " ".join(previous_sentences[-2:])  # two ~33-char sentences fit in 80
        assert after.text.startswith(carried)
        assert len(after.text) <= 200


def test_no_overlap_when_overlap_is_zero() -> None:
    sentences = [f"Fact {i} is stated in this sentence." for i in range(12)]
    drafts = chunk_markdown(" ".join(sentences), "T", chunk_chars=200, overlap_chars=0)

    texts = [" ".join(d.text.split()) for d in drafts]
    assert " ".join(texts) == " ".join(sentences)  # nothing repeated


@pytest.mark.parametrize("seed", range(6))
def test_no_chunk_exceeds_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    words = [
        "order",
        "refund",
        "days",
        "shipping",
        "退货",
        "发货。",
        "policy.",
        "Returns",
        "A",
        "!",
    ]
    lines = []
    for _ in range(60):
        kind = rng.random()
        if kind < 0.1:
            lines.append(f"{'#' * rng.randint(1, 4)} Heading {rng.randint(0, 99)}")
        elif kind < 0.3:
            lines.append("")
        else:
            lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 120))))
    chunk_chars = rng.choice([200, 333, 500])
    overlap = rng.choice([0, 60, 150])

    drafts = chunk_markdown("\n".join(lines), "Doc", chunk_chars, overlap)

    assert drafts
    assert all(0 < len(d.text) <= chunk_chars for d in drafts)
    assert [d.position for d in drafts] == list(range(len(drafts)))


@pytest.mark.parametrize("text", ["", "   \n\n  ", "# Title\n\n## Empty section\n"])
def test_empty_input_gives_no_chunks(text: str) -> None:
    assert chunk_markdown(text, "Title") == []

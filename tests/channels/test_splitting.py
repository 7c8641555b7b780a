"""Splitting long replies into platform-sized messages: boundaries, URLs, emoji, CJK, limits."""

from __future__ import annotations

import pytest

from server.channels.splitting import URL, compose, split_text, truncate, utf8_bytes, utf16_units

PARAGRAPH = (
    "Standard shipping takes three to five business days. Express shipping takes one to two "
    "business days! Orders placed before noon ship the same day? Yes, on weekdays."
)


def rejoined(parts: list[str]) -> str:
    return "".join("".join(p.split()) for p in parts)


def test_short_text_is_one_part_and_measures_count_like_the_platforms() -> None:
    assert split_text("Hello", 4096) == ["Hello"]
    assert utf16_units("a😀") == 3 and utf8_bytes("a😀") == 5 and utf8_bytes("退货") == 6
    with pytest.raises(ValueError):
        split_text("x", 1)


def test_long_english_splits_at_paragraphs_then_sentences_and_loses_nothing() -> None:
    text = "\n\n".join([PARAGRAPH] * 12)
    parts = split_text(text, 400)
    assert len(parts) > 1 and all(utf16_units(p) <= 400 for p in parts)
    assert all(p.endswith((".", "!", "?")) for p in parts)  # every cut is at a sentence end
    assert rejoined(parts) == rejoined([text])
    one_paragraph = split_text(PARAGRAPH * 3, 200)
    assert all(p.endswith((".", "!", "?")) and p[0].isupper() for p in one_paragraph)


def test_words_are_kept_whole_when_there_is_no_sentence_end() -> None:
    text = " ".join(f"word{i}" for i in range(400))
    parts = split_text(text, 100)
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == text.split()  # no word cut in two


def test_chinese_splits_after_full_width_punctuation_within_a_byte_limit() -> None:
    sentence = "退货政策是收到商品后三十天内可以退货。"  # 19 characters, 57 bytes
    text = sentence * 100 + "请问还有什么可以帮您？"
    parts = split_text(text, 2048, utf8_bytes)
    assert len(parts) == 3 and all(utf8_bytes(p) <= 2048 for p in parts)
    assert all(p.endswith(("。", "？")) for p in parts)
    assert "".join(parts) == text
    no_punctuation = "退货" * 2000  # no boundary at all: cut by bytes, never inside a character
    hard = split_text(no_punctuation, 100, utf8_bytes)
    assert all(utf8_bytes(p) <= 100 for p in hard) and "".join(hard) == no_punctuation


def test_a_url_is_never_cut_when_it_fits_and_only_cut_when_it_alone_is_too_long() -> None:
    url = "https://help.example/kb/demo/" + "shipping-times-" * 20 + "end"  # 329 characters
    text = "x" * 150 + url + " after"  # no space before the URL: a hard cut would land in it
    parts = split_text(text, 400)
    assert any(url in p for p in parts) and all(len(p) <= 400 for p in parts)
    sentence = "See " + url + ". Then read the returns page at https://help.example/returns."
    parts = split_text(sentence * 4, 400)
    assert all(len(p) <= 400 for p in parts)
    assert sum(p.count(url) for p in parts) == 4  # every copy of the long URL is whole
    giant = "https://example.com/" + "a" * 500
    parts = split_text(giant, 200)
    assert all(len(p) <= 200 for p in parts) and "".join(parts) == giant


def test_url_pattern_leaves_sentence_punctuation_out() -> None:
    assert URL.findall("Go to https://x.example/a. Or (https://y.example/b) 或https://z.example/c。好") == [
        "https://x.example/a",
        "https://y.example/b",
        "https://z.example/c",
    ]


def test_emoji_surrogate_pairs_and_sequences_are_never_split() -> None:
    faces = "😀" * 50  # each is 2 UTF-16 code units
    parts = split_text(faces, 7)
    assert all(utf16_units(p) <= 7 for p in parts) and "".join(parts) == faces
    assert all(p == "😀" * 3 for p in parts[:-1])  # 3 faces = 6 units: the 7th unit would split one
    family = "👨\u200d👩\u200d👧"  # one character on screen, 5 code points
    thumbs = "👍🏽"  # skin tone modifier
    flags = "🇯🇵"  # one flag, two regional indicators
    accented = "e\u0301"  # e + combining acute
    for glued in (family, thumbs, flags, accented):  # 8, 4, 4 and 2 UTF-16 units
        text = glued * 30
        for limit in (9, 13, 21):
            parts = split_text(text, limit)
            assert "".join(parts) == text and len(parts) > 1
            assert all(p.startswith(glued[0]) and p.endswith(glued[-1]) for p in parts)
            assert all(len(p) % len(glued) == 0 for p in parts)  # whole characters only
    assert split_text("a" + flags * 10, 11)[0] == "a" + flags * 2  # 11 units would end mid-flag
    assert split_text("ab" + family * 3, 12)[0] == "ab" + family  # …or mid-family


def test_compose_puts_the_sources_last_or_in_their_own_part() -> None:
    sources = "Sources:\n1. Shipping times https://help.example/kb/demo/shipping"
    assert compose("Short answer.", sources, 4096) == [f"Short answer.\n\n{sources}"]
    body = "\n\n".join([PARAGRAPH] * 6)
    parts = compose(body, sources, 400)
    assert parts[-1].endswith(sources) and sources not in "".join(parts[:-1])
    full = compose(PARAGRAPH * 2, sources, len(PARAGRAPH * 2) + 10)
    assert full[-1] == sources  # no room beside the body: the Sources stand alone


def test_compose_caps_the_number_of_parts_and_keeps_the_tail() -> None:
    body = " ".join(["lorem ipsum dolor sit amet"] * 400)
    parts = compose(body, "Reply 1 for Track my order", 500, max_parts=3)
    assert len(parts) == 3 and all(len(p) <= 500 for p in parts)
    assert parts[-1].endswith("Reply 1 for Track my order")
    assert "…" in parts[-1] or "…" in parts[-2]


def test_truncate_cuts_at_a_space_and_marks_the_cut() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("the quick brown fox jumps over the lazy dog", 20)
    assert cut == "the quick brown fox…" and utf16_units(cut) <= 20
    assert truncate("中文" * 10, 10, utf8_bytes) == "中文…"

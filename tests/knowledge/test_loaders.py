"""Loaders: one per file type, each giving a title and Markdown-like text."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.chunking import split_sections
from knowledge.errors import CorruptDocument, UnsupportedDocument
from knowledge.loaders import load_bytes, load_path

HTML = b"""<!doctype html>
<html><head><title>Northwind | Help</title><style>body { color: red }</style></head>
<body>
<header><a href="/">Home</a> <a href="/shop">Shop</a></header>
<nav><ul><li>Menu item</li></ul></nav>
<main>
<h1>Returns</h1>
<p>You can return any item.</p>
<h2>Refund timing</h2>
<p>Refunds reach your card in five days.</p>
<form><input name="q"> Search the site</form>
</main>
<aside>Related articles</aside>
<script>trackVisitor("secret")</script>
<footer>Copyright Northwind</footer>
</body></html>
"""


def test_markdown_title_is_the_first_level_one_heading() -> None:
    doc = load_bytes(b"Intro line\n\n# Shipping Times\n\nOrders ship daily.\n", "shipping.md")

    assert doc.title == "Shipping Times"
    assert doc.media_type == "text/markdown"
    assert doc.source == "shipping.md"
    assert "Orders ship daily." in doc.text


def test_markdown_without_heading_takes_its_title_from_the_file_name() -> None:
    doc = load_bytes(b"Orders ship daily.\n\n## Not a title\n", "shipping-times_faq.markdown")

    assert doc.title == "Shipping times faq"


def test_text_file_keeps_its_text_and_uses_the_file_name_as_title() -> None:
    doc = load_bytes(b"Opening hours: 9 to 5.\nClosed on Sundays.\n", "opening_hours.TXT")

    assert doc.title == "Opening hours"
    assert doc.media_type == "text/plain"
    assert doc.text == "Opening hours: 9 to 5.\nClosed on Sundays.\n"


def test_utf8_byte_order_mark_is_dropped() -> None:
    doc = load_bytes("\ufeff# Titel\n\nÄrger vermeiden.".encode(), "faq.md")

    assert doc.title == "Titel"
    assert doc.text.startswith("# Titel")


def test_gb18030_text_decodes() -> None:
    text = "# 退货政策\n\n收到商品后三十天内可以申请退货。"
    doc = load_bytes(text.encode("gb18030"), "returns.md")

    assert doc.title == "退货政策"
    assert doc.text == text


def test_undecodable_bytes_are_a_corrupt_document() -> None:
    with pytest.raises(CorruptDocument, match="bad.txt"):
        load_bytes(b"\xff\xfe\x00\x81", "bad.txt")


def test_html_boilerplate_is_stripped_and_headings_kept() -> None:
    doc = load_bytes(HTML, "returns.html")

    assert doc.title == "Returns"
    assert doc.media_type == "text/html"
    for gone in (
        "Menu item",
        "Home",
        "trackVisitor",
        "Copyright",
        "Related articles",
        "color: red",
        "Search",
    ):
        assert gone not in doc.text
    assert "# Returns" in doc.text
    assert "## Refund timing" in doc.text
    assert "Refunds reach your card in five days." in doc.text
    sections = split_sections(doc.text, doc.title)
    assert [s.path for s in sections] == [[], ["Refund timing"]]


def test_html_without_h1_takes_the_title_element() -> None:
    doc = load_bytes(
        b"<html><head><title>Help Center</title></head><body><p>Hi there.</p></body></html>",
        "a.htm",
    )

    assert doc.title == "Help Center"
    assert doc.text == "Hi there."


def test_html_inline_markup_keeps_a_sentence_on_one_line() -> None:
    doc = load_bytes(
        b"<p>Returns are free within <b>30 days</b> of <a href='/d'>delivery</a>.</p>", "r.html"
    )

    assert "Returns are free within 30 days of delivery." in doc.text.splitlines()


@pytest.mark.parametrize("name", ["manual.epub", "README", "slides.pptx"])
def test_unsupported_suffix_names_the_supported_types(name: str) -> None:
    with pytest.raises(UnsupportedDocument) as caught:
        load_bytes(b"data", name)

    message = str(caught.value)
    assert name in message
    for suffix in (".md", ".markdown", ".txt", ".html", ".htm"):
        assert suffix in message


def test_unsupported_without_suffix_says_none() -> None:
    with pytest.raises(UnsupportedDocument, match=r"\(none\)"):
        load_bytes(b"data", "README")


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "empty.md"),
        (b"  \n\n\t", "blank.txt"),
        (b"<html><body><script>x()</script><nav>Menu</nav></body></html>", "empty.html"),
    ],
)
def test_empty_document_is_corrupt(data: bytes, name: str) -> None:
    with pytest.raises(CorruptDocument, match="no text"):
        load_bytes(data, name)


def test_load_path_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hours.md"
    path.write_text("# Hours\n\nWe open at nine.", encoding="utf-8")

    doc = load_path(path)

    assert (doc.title, doc.source) == ("Hours", "hours.md")
    assert "We open at nine." in doc.text

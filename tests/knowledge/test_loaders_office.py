"""PDF, DOCX and FAQ-table (CSV, XLSX) loaders: structure kept, big files streamed, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.base import KnowledgeBase
from knowledge.errors import CorruptDocument
from knowledge.loaders import load_bytes, load_path
from tests.knowledge.office_files import blank_pdf, csv_file, docx_file, pdf_with_text, xlsx_file

FAQ_ROWS = [
    ["How long does shipping take?", "Orders arrive in three working days."],
    ["Can I return an item?", "Yes, within 30 days, free of charge."],
]


def test_pdf_pages_become_sections_and_the_metadata_title_is_used() -> None:
    data = pdf_with_text(["Shipping takes three days.", "Refunds (to your card) take five days."], "Help Guide")

    doc = load_bytes(data, "guide.pdf")
    parts = list(doc.iter_parts())

    assert (doc.title, doc.media_type) == ("Help Guide", "application/pdf")
    assert [p.text.splitlines()[0] for p in parts] == ["## Page 1", "## Page 2"]
    assert "Refunds (to your card) take five days." in parts[1].text


def test_pdf_from_a_path_streams_pages_lazily(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(pdf_with_text([f"Page {n} talks about topic {n}." for n in range(1, 6)]))

    doc = load_path(path)

    assert doc.text == ""  # nothing is joined up front
    parts = iter(doc.iter_parts())
    assert "topic 1" in next(parts).text
    assert [p.text.count("topic") for p in parts] == [1, 1, 1, 1]
    assert doc.title == "Manual"


def test_pdf_without_text_layer_says_it_is_scanned() -> None:
    with pytest.raises(CorruptDocument, match=r"scan\.pdf: no text layer in 2 page\(s\).*OCR"):
        load_bytes(blank_pdf(2), "scan.pdf")


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.4\n1 0 obj garbage", "broken.pdf"),
        (b"PK\x03\x04 not really a zip", "broken.docx"),
        (b"PK\x03\x04 not really a zip", "broken.xlsx"),
        (b"\x00\x01\x02", "broken.pdf"),
    ],
)
def test_corrupt_files_raise_corrupt_document_with_the_file_name(data: bytes, name: str) -> None:
    with pytest.raises(CorruptDocument, match=name.replace(".", r"\.")):
        load_bytes(data, name)


def test_docx_headings_become_markdown_sections() -> None:
    doc = load_bytes(docx_file(), "returns.docx")

    assert doc.title == "Returns policy"
    assert "# Refund timing" in doc.text.splitlines()
    assert "## Damaged parcels" in doc.text.splitlines()
    assert "- Send us a photo of the box." in doc.text
    assert "France | 3" in doc.text


def test_docx_chunks_carry_sections_and_anchors(kb: KnowledgeBase) -> None:
    doc = load_bytes(docx_file(), "returns.docx")

    records = list(kb.chunk_parts("returns", doc.title, doc.iter_parts(), "/kb/demo/returns"))

    by_section = {r.section: r for r in records}
    assert "Refund timing" in by_section
    assert by_section["Refund timing"].url == "/kb/demo/returns#refund-timing"
    assert "Refund timing > Damaged parcels" in by_section


@pytest.mark.parametrize(
    "header",
    [["Question", "Answer"], ["q", "a"], ["Title", "Body"], ["问题", "答案"], ["id", " QUESTION ", "answer"]],
)
def test_csv_faq_rows_become_one_entry_each(header: list[str]) -> None:
    rows = [[*(["1"] if len(header) == 3 else []), q, a] for q, a in FAQ_ROWS]

    doc = load_bytes(csv_file(header, rows), "faq.csv")
    parts = list(doc.iter_parts())

    assert [p.title for p in parts] == [q for q, _ in FAQ_ROWS]
    assert "Orders arrive in three working days." in parts[0].text


def test_csv_in_gb18030_with_semicolons() -> None:
    data = csv_file(["问题", "答案"], [["运费多少？", "满五十元免运费。"]], "gb18030", ";")

    parts = list(load_bytes(data, "常见问题.csv").iter_parts())

    assert parts[0].title == "运费多少？" and "满五十元免运费。" in parts[0].text


def test_faq_entries_stay_separate_chunks_titled_by_the_question(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "faq.xlsx"
    path.write_bytes(xlsx_file(["Question", "Answer"], [*FAQ_ROWS, ["Empty answer", None]]))
    doc = load_path(path)

    records = list(kb.chunk_parts("faq", doc.title, doc.iter_parts(), "/kb/demo/faq"))

    assert [r.title for r in records] == [q for q, _ in FAQ_ROWS]
    assert records[0].text == "Orders arrive in three working days."
    assert records[1].url == "/kb/demo/faq#can-i-return-an-item"
    assert len({r.id for r in records}) == 2


def test_xlsx_uses_the_first_sheet_with_faq_columns() -> None:
    doc = load_bytes(xlsx_file(["Q", "A"], FAQ_ROWS, sheets_before=1), "faq.xlsx")

    assert [p.title for p in doc.iter_parts()] == [q for q, _ in FAQ_ROWS]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("prices.csv", csv_file(["product", "price"], [["mug", "5"]])),
        ("prices.xlsx", xlsx_file(["product", "price"], [["mug", 5]])),
    ],
)
def test_table_without_faq_columns_names_the_columns_found(name: str, data: bytes) -> None:
    with pytest.raises(CorruptDocument) as caught:
        load_bytes(data, name)

    message = str(caught.value)
    assert name in message and "'product', 'price'" in message and "question" in message


def test_table_with_header_only_has_no_text() -> None:
    with pytest.raises(CorruptDocument, match="no text"):
        load_bytes(csv_file(["question", "answer"], []), "empty.csv")

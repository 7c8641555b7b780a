"""Streaming loaders say how far into the file they are, so ingestion can show progress."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2]))
from knowledge.loaders import load_bytes, load_path  # noqa: E402
from tests.knowledge.office_files import csv_file, pdf_with_text, xlsx_file  # noqa: E402


def test_pdf_parts_report_the_share_of_pages_read(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(pdf_with_text([f"Page {n} text." for n in range(1, 11)]))

    done = [part.done for part in load_path(path).iter_parts()]

    assert done == pytest.approx([n / 10 for n in range(1, 11)])


def test_clearing_the_pdf_object_cache_does_not_change_the_text(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(pdf_with_text([f"Page {n} explains setting {n}." for n in range(1, 30)], "Manual"))
    cached = [p.text for p in load_path(path).iter_parts()]

    monkeypatch.setattr("knowledge.loaders.pdf.CACHE_PAGES", 1)  # clear after every page
    cleared = [p.text for p in load_path(path).iter_parts()]

    assert cleared == cached and len(cleared) == 29 and "setting 29" in cleared[-1]


def test_csv_parts_report_the_share_of_bytes_read(tmp_path: Path) -> None:
    rows = [[f"Question {n} about a long topic?", "An answer " * 40] for n in range(400)]
    path = tmp_path / "faq.csv"
    path.write_bytes(csv_file(["question", "answer"], rows))

    done = [part.done for part in load_path(path).iter_parts()]

    assert len(done) == 400 and all(d is not None for d in done)
    assert done == sorted(done) and done[0] < 0.5 and done[-1] == pytest.approx(1.0)


def test_csv_in_memory_reports_progress_too() -> None:
    data = csv_file(["question", "answer"], [[f"Q{n}?", "A" * 200] for n in range(200)])

    done = [part.done for part in load_bytes(data, "faq.csv").iter_parts()]

    assert done[-1] == pytest.approx(1.0) and done[0] < 0.5


def test_xlsx_parts_report_the_share_of_rows_read() -> None:
    data = xlsx_file(["question", "answer"], [[f"Q{n}?", f"A{n}"] for n in range(1, 9)])

    done = [part.done for part in load_bytes(data, "faq.xlsx").iter_parts()]

    assert done == pytest.approx([n / 9 for n in range(2, 10)])

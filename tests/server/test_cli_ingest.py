"""`frontdesk kb ingest` as a user runs it: a folder and files, a progress bar, failures in a summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2]))
from tests.knowledge.office_files import csv_file, pdf_with_text  # noqa: E402

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).with_name("frontdesk"))


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRONTDESK_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("FRONTDESK_DATABASE_URL", None)
    return subprocess.run([EXE, *args], cwd=data_dir, env=env, capture_output=True, text=True, timeout=600)


def test_kb_ingest_a_folder_shows_progress_and_fails_after_ingesting_the_good_files(tmp_path: Path) -> None:
    data_dir, docs = tmp_path / "data", tmp_path / "docs"
    data_dir.mkdir()
    (docs / "faq").mkdir(parents=True)
    (docs / "hours.md").write_text("# Opening hours\n\nWe are open 9am to 6pm on weekdays.\n")
    (docs / "faq" / "delivery.csv").write_bytes(
        csv_file(["question", "answer"], [["Do you deliver on Sundays?", "No, Monday to Saturday only."]])
    )
    (docs / "warranty.pdf").write_bytes(pdf_with_text(["The warranty lasts two years."], "Warranty"))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF")
    (docs / "notes.rtf").write_text("skipped: folders only yield supported types")
    (tmp_path / "slides.pptx").write_bytes(b"PK..")
    assert run(data_dir, "bots", "create", "shop").returncode == 0

    result = run(data_dir, "kb", "ingest", "--bot", "shop", str(docs), str(tmp_path / "slides.pptx"))

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert "hours.md: 1 chunks" in lines and "delivery.csv: 1 chunks" in lines and "warranty.pdf: 1 chunks" in lines
    assert any(line.startswith("broken.pdf: FAILED: broken.pdf: not a readable PDF") for line in lines)
    assert any(line.startswith("slides.pptx: FAILED: slides.pptx: unsupported file type .pptx") for line in lines)
    assert lines[-1] == "3 ingested, 2 failed" and "notes.rtf" not in result.stdout
    assert "files" in result.stderr and "5/5" in result.stderr  # the progress bar, on stderr
    assert "failed broken.pdf: not a readable PDF" in result.stderr  # failures show as they happen
    found = json.loads(run(data_dir, "kb", "search", "--bot", "shop", "deliver on sunday", "--json").stdout)
    assert found["hits"][0]["title"] == "Do you deliver on Sundays?"

    again = run(data_dir, "kb", "ingest", "--bot", "shop", str(docs / "hours.md"))
    assert again.returncode == 0 and "hours.md: unchanged" in again.stdout


def test_kb_ingest_an_empty_folder_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert run(tmp_path, "bots", "create", "shop").returncode == 0

    result = run(tmp_path, "kb", "ingest", "--bot", "shop", str(tmp_path / "empty"))

    assert result.returncode == 1 and result.stderr.startswith("error: no supported files in")

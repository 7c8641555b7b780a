"""The command-line contract of DESIGN.md, run as a user runs it (a real process)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).with_name("frontdesk"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRONTDESK_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("FRONTDESK_DATABASE_URL", None)
    return subprocess.run([EXE, *args], cwd=data_dir, env=env, capture_output=True, text=True, timeout=600)


def test_chat_json_prints_the_reply_and_its_trace(data_dir: Path) -> None:
    result = run(data_dir, "chat", "--bot", "demo", "How long does shipping take?", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert "business days" in body["reply"] and body["citations"]
    assert body["trace"]["passages"] and body["trace"]["stages"]


def test_bots_create_list_and_bad_input(data_dir: Path) -> None:
    assert run(data_dir, "bots", "create", "acme", "--name", "Acme Inc").returncode == 0
    listed = json.loads(run(data_dir, "bots", "list", "--json").stdout)
    assert {"slug": "acme", "name": "Acme Inc"} in listed
    again = run(data_dir, "bots", "create", "acme")
    assert again.returncode == 1 and again.stderr.strip().count("\n") == 0 and "already exists" in again.stderr
    bad = run(data_dir, "bots", "create", "Bad Slug!")
    assert bad.returncode == 1 and "slug" in bad.stderr


def test_kb_ingest_keeps_good_files_when_one_is_bad_and_search_finds_them(data_dir: Path, tmp_path: Path) -> None:
    assert run(data_dir, "bots", "create", "kbbot").returncode == 0
    (tmp_path / "hours.md").write_text("# Opening hours\n\n## Weekdays\nWe are open 9am to 6pm on weekdays.\n")
    (tmp_path / "broken.pdfx").write_bytes(b"\x00\x01")
    result = run(data_dir, "kb", "ingest", "--bot", "kbbot", str(tmp_path / "hours.md"), str(tmp_path / "broken.pdfx"))
    assert result.returncode == 1
    assert "hours.md: 1 chunks" in result.stdout and "unsupported file type" in result.stdout
    found = json.loads(
        run(data_dir, "kb", "search", "--bot", "kbbot", "when are you open", "--k", "3", "--json").stdout
    )
    assert found["hits"][0]["title"] == "Opening hours" and found["hits"][0]["section"] == "Weekdays"
    missing = run(data_dir, "kb", "ingest", "--bot", "kbbot", str(tmp_path / "nope.md"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_intents_train_and_eval_json(data_dir: Path, tmp_path: Path) -> None:
    rows = [
        ("hi there", "greeting"),
        ("hello", "greeting"),
        ("good morning", "greeting"),
        ("hey", "greeting"),
        ("where is my parcel", "track"),
        ("track my order", "track"),
        ("has my order shipped", "track"),
        ("where's my package", "track"),
        ("what is the meaning of life", ""),
    ]
    data = tmp_path / "intents.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    assert run(data_dir, "bots", "create", "intentbot").returncode == 0
    trained = run(data_dir, "intents", "train", "--bot", "intentbot", "--data", str(data))
    assert trained.returncode == 0, trained.stderr
    scores = json.loads(run(data_dir, "intents", "eval", "--bot", "intentbot", "--data", str(data), "--json").stdout)
    assert {"accuracy", "macro_f1", "n", "oos_recall", "in_scope_accuracy"} <= set(scores)
    assert scores["n"] == len(rows)
    no_label = tmp_path / "bad.csv"
    no_label.write_text("text,foo\nhello,bar\n")
    bad = run(data_dir, "intents", "train", "--bot", "intentbot", "--data", str(no_label))
    assert bad.returncode == 1 and "label column" in bad.stderr


def test_unknown_bot_is_a_one_line_error(data_dir: Path) -> None:
    result = run(data_dir, "chat", "--bot", "ghost", "hello")
    assert result.returncode == 1 and result.stderr.strip() == "error: no bot named 'ghost'"

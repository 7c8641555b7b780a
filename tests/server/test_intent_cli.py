"""`frontdesk intents train/models/promote/rollback` in process, on a fake embedder (fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from server.cli import app
from tests.fakes import HashEmbedder
from tests.server.intent_helpers import HOURS, OOS, REFUND, TRACK

runner = CliRunner()


@pytest.fixture()
def frontdesk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run a frontdesk command on a fresh data folder; every model is the hashing fake."""
    from knowledge import embeddings

    fake = HashEmbedder()
    monkeypatch.setattr(embeddings.EmbedderCache, "get", lambda self, spec, device="auto": fake)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    monkeypatch.setenv("FRONTDESK_KNOWLEDGE__RERANKER", "none")

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args))

    assert invoke("bots", "create", "shop").exit_code == 0
    return invoke


def write_csv(path: Path, rows: dict[str, list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        for label, texts in rows.items():
            writer.writerows([text, "" if label == "oos" else label] for text in texts)
    return path


def test_train_models_promote_rollback(frontdesk, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", {"track": TRACK, "refund": REFUND, "oos": OOS})
    trained = frontdesk("intents", "train", "--bot", "shop", "--data", str(first), "--no-promote")
    assert trained.exit_code == 0, trained.output
    assert "trained 2 intents on 12 examples (3 out-of-scope)" in trained.stdout
    assert "version 1 (active)" in trained.stdout and "held-out accuracy" in trained.stdout
    assert "Training" in trained.stderr  # the progress bar
    second = write_csv(tmp_path / "b.csv", {"track": TRACK, "refund": REFUND, "hours": HOURS})
    out = frontdesk("intents", "train", "--bot", "shop", "--data", str(second), "--no-promote")
    assert "version 2 (candidate)" in out.stdout
    listed = json.loads(frontdesk("intents", "models", "--bot", "shop", "--json").stdout)
    assert [(m["version"], m["status"], m["intents"]) for m in listed] == [(2, "candidate", 3), (1, "active", 2)]
    assert {"accuracy", "macro_f1", "n", "oos_recall"} <= set(listed[1])
    assert "v2\tcandidate" in frontdesk("intents", "models", "--bot", "shop").stdout
    assert frontdesk("intents", "promote", "--bot", "shop", "2").stdout.strip() == "version 2 of shop is active"
    assert frontdesk("intents", "train", "--bot", "shop", "--data", str(first)).exit_code == 0  # v3, promoted
    rolled = frontdesk("intents", "rollback", "--bot", "shop")
    assert rolled.exit_code == 0 and "version 2 of shop is active" in rolled.stdout
    statuses = [m["status"] for m in json.loads(frontdesk("intents", "models", "--bot", "shop", "--json").stdout)]
    assert statuses == ["retired", "active", "retired"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("intents", "promote", "--bot", "shop", "7"), "no intent model version 7"),
        (("intents", "rollback", "--bot", "shop"), "no active intent model"),
        (("intents", "models", "--bot", "ghost"), "no bot named 'ghost'"),
        (("intents", "promote", "--bot", "ghost", "1"), "no bot named 'ghost'"),
    ],
)
def test_bad_input_is_a_one_line_error(frontdesk, args: tuple[str, ...], reason: str) -> None:
    result = frontdesk(*args)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and reason in result.stderr


def test_train_with_one_intent_fails_with_a_reason(frontdesk, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "one.csv", {"track": TRACK, "oos": OOS})
    result = frontdesk("intents", "train", "--bot", "shop", "--data", str(data))
    assert result.exit_code == 1 and "at least two intents" in result.stderr
    assert "has no intent models yet" in frontdesk("intents", "models", "--bot", "shop").stdout

"""`frontdesk channels add|list`: settings checked, secrets generated and masked, path printed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from server.cli import app

runner = CliRunner()


@pytest.fixture()
def env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("FRONTDESK_SEED_DEMO", "false")
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["bots", "create", "acme"]).exit_code == 0


def test_add_prints_the_path_and_a_generated_secret_once(env) -> None:  # type: ignore[no-untyped-def]
    added = runner.invoke(
        app,
        [
            "channels",
            "add",
            "--bot",
            "acme",
            "--kind",
            "telegram",
            "--name",
            "main",
            "--set",
            "bot_token=123:SECRETBOTTOKEN",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "webhook path: /webhooks/telegram/acme/ch_" in added.output
    assert "generated secret_token" in added.output and "SECRETBOTTOKEN" not in added.output
    listed = runner.invoke(app, ["channels", "list", "--bot", "acme", "--json"])
    [row] = json.loads(listed.stdout)
    assert row["path"].startswith("/webhooks/telegram/acme/ch_") and row["settings"] == {
        "bot_token": "***",
        "secret_token": "***",
    }
    plain = runner.invoke(app, ["channels", "list", "--bot", "acme"])
    assert row["id"] in plain.stdout and "SECRETBOTTOKEN" not in plain.stdout


@pytest.mark.parametrize(
    "args, reason",
    [
        (
            ["--kind", "icq", "--name", "x"],
            "valid kinds: generic, line, meta, slack, telegram, wechat",
        ),
        (["--kind", "slack", "--name", "x", "--set", "bot_token=x"], "needs signing_secret"),
        (["--kind", "slack", "--name", "x", "--set", "nokey"], "KEY=VALUE"),
        (
            [
                "--kind",
                "wechat",
                "--name",
                "x",
                "--set",
                "token=t",
                "--set",
                "appid=a",
                "--set",
                "appsecret=s",
                "--set",
                "encoding_aes_key=short",
            ],
            "43-character",
        ),
    ],
)
def test_bad_input_exits_with_one_line(env, args: list[str], reason: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["channels", "add", "--bot", "acme", *args])
    assert result.exit_code == 1 and reason in result.output


def test_duplicate_name_and_unknown_bot(env) -> None:  # type: ignore[no-untyped-def]
    args = ["--kind", "generic", "--name", "app"]
    assert runner.invoke(app, ["channels", "add", "--bot", "acme", *args]).exit_code == 0
    again = runner.invoke(app, ["channels", "add", "--bot", "acme", *args])
    assert again.exit_code == 1 and "already has a channel named 'app'" in again.output
    missing = runner.invoke(app, ["channels", "list", "--bot", "nope"])
    assert missing.exit_code == 1 and "no bot named 'nope'" in missing.output

"""Reply rules as YAML: export, edit, import (all or nothing), and the running bot uses them at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session
from typer.testing import CliRunner

from bot.errors import ConfigError
from server.cli import app
from server.context import Services
from server.rules_io import export_rules, import_rules
from server.tables import ReplyRule

RULES = """
- name: opening_hours
  priority: 10
  when: {keywords: [opening hours, 营业时间]}
  then: [{reply: "We are open 9 to 5."}]
- name: refund_to_person
  priority: 20
  enabled: false
  description: refunds go to a person
  when: {keywords: [refund]}
  then: [{reply: "A colleague will help with your refund."}, {handoff: true}]
"""


@pytest.fixture()
def svc(shop_services: Services) -> Services:
    return shop_services


def test_import_then_export_round_trips(svc: Services) -> None:
    runtime = svc.runtimes.get("shop")
    assert import_rules(svc.runtimes, "shop", RULES) == (2, 0)
    assert [r.name for r in runtime.rules] == ["opening_hours", "refund_to_person"]  # reloaded at once
    exported = export_rules(svc.runtimes, "shop")
    assert exported.startswith("# Reply rules of bot shop")
    listed = yaml.safe_load(exported)
    assert [(r["name"], r["priority"], r["enabled"]) for r in listed] == [
        ("opening_hours", 10, True), ("refund_to_person", 20, False)
    ]
    assert listed[0]["when"]["keywords"] == ["opening hours", "营业时间"]
    assert import_rules(svc.runtimes, "shop", exported) == (2, 0)  # its own export imports unchanged
    assert yaml.safe_load(export_rules(svc.runtimes, "shop")) == listed


def test_a_file_replaces_the_rules_unless_merged(svc: Services) -> None:
    import_rules(svc.runtimes, "shop", RULES)
    only_hours = yaml.safe_dump(yaml.safe_load(RULES)[:1])
    assert import_rules(svc.runtimes, "shop", only_hours, merge=True) == (1, 0)
    assert len(yaml.safe_load(export_rules(svc.runtimes, "shop"))) == 2
    assert import_rules(svc.runtimes, "shop", only_hours) == (1, 1)
    assert [r["name"] for r in yaml.safe_load(export_rules(svc.runtimes, "shop"))] == ["opening_hours"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- name: x\n  when: {keywords: [a]\n", "not valid YAML"),
        ("name: x\n", "list of rules"),
        ("- name: x\n  when: {colour: red}\n  then: [{reply: hi}]\n", "x"),
        ("- name: x\n  when: {keywords: [a]}\n  then: [{reply: hi}]\n- name: x\n  when: {keywords: [b]}\n"
         "  then: [{reply: ho}]\n", "used twice"),
    ],
)
def test_a_bad_file_changes_nothing(svc: Services, text: str, message: str) -> None:
    import_rules(svc.runtimes, "shop", RULES)
    before = export_rules(svc.runtimes, "shop")
    with pytest.raises(ConfigError, match=message):
        import_rules(svc.runtimes, "shop", text)
    assert export_rules(svc.runtimes, "shop") == before
    with Session(svc.engine) as session:
        assert len(session.exec(__import__("sqlmodel").select(ReplyRule)).all()) == 2


def test_cli_export_and_import(svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import server.cli as cli

    monkeypatch.setattr(cli, "services", _reuse(svc))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES, encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(app, ["rules", "import", "--bot", "shop", str(rules_file)])
    assert imported.exit_code == 0 and "imported 2 rule(s)" in imported.output
    exported = runner.invoke(app, ["rules", "export", "--bot", "shop"])
    assert exported.exit_code == 0 and "opening_hours" in exported.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: x\n", encoding="utf-8")
    failed = runner.invoke(app, ["rules", "import", "--bot", "shop", str(bad)])
    assert failed.exit_code != 0 and "x" in failed.output and "Traceback" not in failed.output
    missing = runner.invoke(app, ["rules", "import", "--bot", "shop", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def _reuse(svc: Services):  # type: ignore[no-untyped-def]
    """cli.services() that yields the test's services and leaves them open, turning errors into failures."""
    from contextlib import contextmanager

    import server.cli as cli

    @contextmanager
    def services():  # type: ignore[no-untyped-def]
        try:
            yield svc
        except cli.EXPECTED as exc:
            cli.fail(str(exc))

    return services

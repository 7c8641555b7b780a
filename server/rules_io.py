"""A bot's reply rules as one YAML file: export them to keep in git, import them back (all or nothing)."""

from __future__ import annotations

from typing import Any

import yaml
from sqlmodel import Session, col, delete, select

from bot.errors import ConfigError
from bot.rules import Rule
from server.runtimes import RuntimeRegistry, rule_of
from server.store import get_bot
from server.tables import ReplyRule

HEADER = "# Reply rules of bot {slug}; see docs/rules.md. Import with: frontdesk rules import --bot {slug} FILE\n"


def export_rules(registry: RuntimeRegistry, slug: str) -> str:
    """The bot's rules in priority order as YAML: a list of {name, priority, enabled, description, when, then}."""
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        rows = session.exec(
            select(ReplyRule).where(ReplyRule.bot_id == bot.id).order_by(col(ReplyRule.priority), col(ReplyRule.name))
        ).all()
        rules = [rule_of(r) for r in rows]
    listed = [{"name": r.name, "priority": r.priority, "enabled": r.enabled, **r.definition()} for r in rules]
    body = yaml.safe_dump(listed, allow_unicode=True, sort_keys=False, width=110)
    return HEADER.format(slug=slug) + body


def parse_rules(text: str) -> list[Rule]:
    """Rules from YAML text; every rule is validated, and a mistake names the rule and the problem.

    Raises:
        ConfigError: not YAML, not a list of rules, a rule that does not validate, or a name used twice.
    """
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from exc
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ConfigError("the file must hold a list of rules")
    rules = [Rule.from_dict(item) for item in data]
    names = [r.name for r in rules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"rule name(s) used twice: {twice}")
    return rules


def import_rules(registry: RuntimeRegistry, slug: str, text: str, merge: bool = False) -> tuple[int, int]:
    """Store the rules of a YAML file for the bot in one transaction; the running bot uses them at once.

    Args:
        registry: the process's runtimes.
        slug: the bot.
        text: the YAML (as written by export_rules).
        merge: keep the bot's rules that the file does not name (default: the file replaces them all).

    Returns:
        (rules written, rules removed).
    """
    rules = parse_rules(text)
    with Session(registry.engine) as session:
        bot = get_bot(session, slug)
        existing = {r.name: r for r in session.exec(select(ReplyRule).where(ReplyRule.bot_id == bot.id)).all()}
        removed = 0
        if not merge:
            stale = [name for name in existing if name not in {r.name for r in rules}]
            if stale:
                session.exec(  # type: ignore[call-overload]
                    delete(ReplyRule).where(ReplyRule.bot_id == bot.id, col(ReplyRule.name).in_(stale))
                )
            removed = len(stale)
        for rule in rules:
            row = existing.get(rule.name) or ReplyRule(bot_id=bot.id, name=rule.name)
            row.definition, row.priority, row.enabled = rule.definition(), rule.priority, rule.enabled
            session.add(row)
        session.commit()
    registry.reload_rules(slug)
    return len(rules), removed

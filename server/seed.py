"""The demo bot a newcomer meets on an empty database: a fictional online shop."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from sqlmodel import Session, select

from bot.intents.data import read_csv
from server.ingest import ingest_paths
from server.intent_training import train
from server.runtimes import RuntimeRegistry
from server.tables import Bot, ReplyRule, Tenant, User

DEMO = Path(__file__).parent / "demo"
log = logging.getLogger(__name__)


@dataclass
class SeedResult:
    """What seeding created; the password is shown once and never stored in clear."""

    bot_slug: str
    admin_email: str
    admin_password: str
    documents: int


def is_empty(registry: RuntimeRegistry) -> bool:
    """No bot exists yet."""
    with Session(registry.engine) as session:
        return session.exec(select(Bot)).first() is None


def create_bot(session: Session, tenant_id: str, slug: str, name: str, **profile: str) -> Bot:
    """Insert a bot row."""
    bot = Bot(tenant_id=tenant_id, slug=slug, name=name, **profile)
    session.add(bot)
    session.commit()
    return bot


def seed_demo(registry: RuntimeRegistry) -> SeedResult:
    """Create the demo tenant, its admin, the demo bot, its knowledge, intents and rules."""
    spec = json.loads((DEMO / "bot.json").read_text(encoding="utf-8"))
    password = secrets.token_urlsafe(12)
    email = "admin@demo.local"
    with Session(registry.engine) as session:
        tenant = Tenant(name="Demo shop")
        session.add(tenant)
        session.flush()
        session.add(User(tenant_id=tenant.id, email=email, password_hash=PasswordHasher().hash(password)))
        bot = create_bot(
            session, tenant.id, spec["slug"], spec["name"],
            persona=spec.get("persona", ""), greeting=spec.get("greeting", ""), fallback=spec.get("fallback", ""),
        )
        for priority, rule in enumerate(json.loads((DEMO / "rules.json").read_text(encoding="utf-8"))):
            name = rule.pop("name")
            session.add(ReplyRule(bot_id=bot.id, name=name, definition=rule, priority=10 * (priority + 1)))
        session.commit()
    results = ingest_paths(registry, spec["slug"], [DEMO / "knowledge"])
    failed = [r for r in results if not r.ok]
    if failed:
        log.warning("demo documents that failed: %s", [r.error for r in failed])
    # no held-out evaluation here: it would double the first start; retrain from the console to see scores
    train(registry, spec["slug"], read_csv(DEMO / "intents.csv"), evaluate_first=False)
    return SeedResult(spec["slug"], email, password, len(results) - len(failed))

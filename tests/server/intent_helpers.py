"""Small helpers for the intent tests: make a bot in the demo tenant, small labelled example sets."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from bot.intents.data import Examples
from server.seed import create_bot
from server.tables import Bot, Tenant

TRACK = ["where is my order", "track my parcel", "has my package shipped yet", "order status please",
         "when will my order arrive", "where's my delivery"]
REFUND = ["I want a refund", "give me my money back", "refund my purchase", "how do I get reimbursed",
          "can I return this for a refund", "I'd like my money returned"]
HOURS = ["when are you open", "what are your opening hours", "are you open on sunday", "what time do you close",
         "business hours please", "what time do you open tomorrow"]
OOS = ["what is the weather today", "tell me a joke", "who won the football match"]


def examples(**intents: list[str]) -> Examples:
    """Examples from keyword lists: examples(track=TRACK, oos=OOS)."""
    texts = [t for ts in intents.values() for t in ts]
    labels = [name for name, ts in intents.items() for _ in ts]
    return Examples(texts, labels)


def new_bot(services, prefix: str = "ib") -> str:  # type: ignore[no-untyped-def]
    """A fresh bot in the demo tenant; returns its slug."""
    slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with Session(services.engine) as session:
        demo = session.exec(select(Bot).where(Bot.slug == "demo")).first()
        tenant_id = demo.tenant_id if demo else None
        if tenant_id is None:
            tenant = Tenant(name="Tests")
            session.add(tenant)
            session.commit()
            tenant_id = tenant.id
        create_bot(session, tenant_id, slug, slug.title())
    return slug

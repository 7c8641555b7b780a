"""A channel survey round-trip (question, rating, thanks) changes the CSAT figures and no bot-answer figure.

Through the real survey code (server/channels/survey.py) on a bare migrated database: SQLite, and
PostgreSQL where a local server runs; live figures and the daily rollup.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.handoff import RESOLVED
from server import store
from server.channels import survey
from server.db import create_db_engine, migrate
from server.metrics import insights, queries
from server.metrics.scope import Scope
from server.tables import Bot, Conversation, Message, Tenant

NOW = datetime.now(UTC)
TODAY = NOW.date()
OPENED = datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=10)
SCOPE_DAYS = 5
TARGET = {"id": "ch_1", "address": {"chat_id": 7}, "locale": "en"}

BOT_ANSWER_FIGURES = (
    "customer_messages",
    "replied_messages",
    "bot_replies",
    "fallback_replies",
    "failed_turns",
    "auto_resolved",
    "handoffs",
    "conversations",
    "latency_p50_ms",
    "latency_p95_ms",
    "first_response_p50_ms",
    "first_response_p95_ms",
    "top_intents",
    "reply_rate",
    "fallback_rate",
    "resolution_rate",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A migrated database of its own, on each engine Frontdesk supports."""
    url = (
        f"sqlite:///{tmp_path / 'surveys.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    engine = create_db_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


def new_bot(session: Session) -> Bot:
    """A tenant and its bot, which asks channel customers for a rating when an agent resolves."""
    tenant = Tenant(name="Shop")
    session.add(tenant)
    session.flush()
    bot = Bot(tenant_id=tenant.id, slug=f"s-{uuid.uuid4().hex[:8]}", name="S", widget={"channel_csat_on_resolve": True})
    session.add(bot)
    session.commit()
    return bot


def resolved_conversation(session: Session, bot: Bot, *, answered_by_bot: bool) -> Conversation:
    """A telegram conversation three days ago: a question (answered by the bot, or not), an agent, resolved."""
    conversation = Conversation(
        bot_id=bot.id,
        channel="telegram",
        external_user_id=uuid.uuid4().hex[:8],
        status=RESOLVED,
        created_at=OPENED,
        updated_at=OPENED,
    )
    session.add(conversation)
    session.flush()
    asked = Message(
        conversation_id=conversation.id,
        role="customer",
        text="where is my parcel?",
        intent="track",
        status="answered",
        created_at=OPENED,
        trace={"channel": TARGET},
    )
    session.add(asked)
    session.flush()
    if answered_by_bot:
        session.add(
            Message(
                conversation_id=conversation.id,
                role="bot",
                text="Let me get someone.",
                reply_to=asked.id,
                intent="track",
                status="sent",
                trace={"latency_ms": {"generate": 120}},
                created_at=OPENED + timedelta(seconds=2),
            )
        )
    session.add(
        Message(
            conversation_id=conversation.id, role="agent", text="Found it.", created_at=OPENED + timedelta(minutes=5)
        )
    )
    session.commit()
    return conversation


def round_trip(session: Session, conversation: Conversation, answer: str) -> Message:
    """Send the survey, receive the customer's answer and thank them, as the channel service does."""
    prepared = survey.prepare(session, conversation.id)
    assert prepared is not None
    pending = survey.pending(session, conversation.bot_id, "telegram", conversation.external_user_id or "")
    assert pending is not None and pending.id == conversation.id
    rating = survey.parse_rating(answer)
    assert rating is not None
    received = store.receive(session, pending, answer, f"tg-{uuid.uuid4().hex[:6]}")
    return survey.record_rating(session, pending, received.message, rating)


def snapshot(session: Session, bot: Bot, *, use_rollup: bool) -> dict[str, object]:
    """The bot-answer figures and the CSAT figures of the last few days."""
    scope = Scope(bot.id, TODAY - timedelta(days=SCOPE_DAYS), TODAY)
    m = queries.compute(session, scope, use_rollup=use_rollup)
    out: dict[str, object] = {name: getattr(m, name) for name in BOT_ANSWER_FIGURES}
    out["csat"] = (m.csat_responses, m.csat_average)
    out["daily_messages"] = [(d.day, d.messages) for d in m.daily]
    return out


def test_a_survey_round_trip_changes_only_the_csat_figures(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        bot = new_bot(session)
        helped = resolved_conversation(session, bot, answered_by_bot=True)
        agent_only = resolved_conversation(session, bot, answered_by_bot=False)
        before = {path: snapshot(session, bot, use_rollup=path) for path in (False, True)}
        assert before[False] == before[True] and before[False]["csat"] == (0, None)
        assert before[False]["bot_replies"] == 1 and before[False]["customer_messages"] == 2

        thanks = round_trip(session, helped, "4 - quick and kind")
        round_trip(session, agent_only, "2")
        assert "survey" in (thanks.trace or {})

        after = {path: snapshot(session, bot, use_rollup=path) for path in (False, True)}
        for path in (False, True):
            assert after[path].pop("csat") == (2, 3.0)
            before[path].pop("csat")
            assert after[path] == before[path], f"use_rollup={path}"


def test_a_survey_is_not_the_first_response_of_a_conversation_nobody_answered(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        bot = new_bot(session)
        conversation = Conversation(
            bot_id=bot.id,
            channel="telegram",
            external_user_id="u1",
            status=RESOLVED,
            created_at=OPENED,
            updated_at=OPENED,
        )
        session.add(conversation)
        session.flush()
        session.add(
            Message(
                conversation_id=conversation.id,
                role="customer",
                text="hello?",
                status="held",
                created_at=OPENED,
                trace={"channel": TARGET},
            )
        )
        session.commit()
        round_trip(session, conversation, "1 nobody answered")
        scope = Scope(bot.id, TODAY - timedelta(days=SCOPE_DAYS), TODAY)
        assert insights.first_response_percentiles(session, scope) == (None, None)
        assert queries.latency_percentiles(session, scope) == (None, None)
        assert insights.knowledge_gaps(session, scope) == []
        m = queries.compute(session, scope, use_rollup=False)
        assert (m.customer_messages, m.replied_messages, m.bot_replies, m.csat_responses) == (1, 0, 0, 1)

"""Metrics against a hand-counted fixture: SQL aggregates, the console page, CSV and /metrics."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, select

from server.metrics import queries
from server.metrics.scope import Scope
from server.tables import Bot, Conversation, Feedback, Message, Tenant, User
from tests.conftest import console_auth

D1, D2 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC), datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
START, END = date(2026, 1, 10), date(2026, 1, 12)


@dataclass
class Fixture:
    """The fixture bot and its ids."""

    bot: Bot
    replies: dict[str, str]


def tenant_of_admin(session: Session, email: str) -> str:
    """The demo console user's tenant, so the fixture bot is visible in the console."""
    return session.exec(select(User).where(User.email == email)).one().tenant_id


def add_turn(
    session: Session,
    conversation: Conversation,
    at: datetime,
    text: str,
    *,
    intent: str | None = None,
    fallback: bool = False,
    latency: dict[str, float] | None = None,
    failed: bool = False,
) -> str | None:
    """A customer message and (unless it failed) the bot's reply one second later; the reply's id."""
    customer = Message(
        conversation_id=conversation.id,
        role="customer",
        text=text,
        created_at=at,
        status="failed" if failed else "answered",
        intent=intent,
    )
    session.add(customer)
    if failed:
        return None
    reply = Message(
        conversation_id=conversation.id,
        role="bot",
        text="…",
        reply_to=customer.id,
        status="sent",
        intent=intent,
        fallback=fallback,
        trace={"latency_ms": latency or {}},
        created_at=at + timedelta(seconds=1),
    )
    session.add(reply)
    return reply.id


def build(session: Session, tenant_id: str) -> Fixture:
    """Three conversations in range (two web, one telegram) and one after it; counts in the tests."""
    bot = Bot(tenant_id=tenant_id, slug=f"metrics-{uuid.uuid4().hex[:8]}", name="Metrics fixture")
    session.add(bot)
    c1 = Conversation(bot_id=bot.id, channel="web", created_at=D1)
    c2 = Conversation(bot_id=bot.id, channel="telegram", created_at=D2)
    c3 = Conversation(bot_id=bot.id, channel="web", created_at=D2 + timedelta(hours=2))
    late = Conversation(bot_id=bot.id, channel="web", created_at=datetime(2026, 2, 1, tzinfo=UTC))
    session.add_all([c1, c2, c3, late])
    session.flush()
    r = {
        "r1": add_turn(
            session,
            c1,
            D1 + timedelta(minutes=1),
            "opening hours?",
            intent="hours",
            latency={"intent": 100, "generate": 50},
        ),
        "r2": add_turn(
            session,
            c1,
            D1 + timedelta(minutes=2),
            "what about <b>zebras</b>?",
            fallback=True,
            latency={"generate": 300},
        ),
        "r3": add_turn(
            session, c2, D2 + timedelta(minutes=1), "refund please", intent="refund", latency={"generate": 50}
        ),
        "r4": add_turn(
            session, c3, D2 + timedelta(hours=2, minutes=1), "blah blah", fallback=True, latency={"generate": 1000}
        ),
        "late": add_turn(session, late, late.created_at, "outside the range", intent="hours"),
    }
    add_turn(session, c2, D2 + timedelta(minutes=5), "this one crashed", failed=True)
    session.flush()  # messages before the feedback that points at them
    session.add_all(
        [
            Feedback(bot_id=bot.id, conversation_id=c1.id, kind="csat", score=4),
            Feedback(bot_id=bot.id, conversation_id=c1.id, message_id=r["r1"], kind="thumb", score=1),
            Feedback(bot_id=bot.id, conversation_id=c2.id, kind="csat", score=2),
            Feedback(bot_id=bot.id, conversation_id=c2.id, message_id=r["r3"], kind="thumb", score=-1),
        ]
    )
    session.commit()
    return Fixture(bot=bot, replies={k: v for k, v in r.items() if v})


@pytest.fixture()
def fixture(demo_services) -> Fixture:  # type: ignore[no-untyped-def]
    """A fresh bot of the demo tenant with the hand-counted data."""
    with Session(demo_services.engine, expire_on_commit=False) as session:
        return build(session, tenant_of_admin(session, demo_services.seeded.admin_email))


def test_metrics_match_the_hand_counts(demo_services, fixture: Fixture) -> None:
    with Session(demo_services.engine) as session:
        m = queries.compute(session, Scope(fixture.bot.id, START, END))
    assert (m.conversations, m.customer_messages, m.replied_messages) == (3, 5, 4)
    assert m.reply_rate == pytest.approx(0.8)
    assert (m.bot_replies, m.fallback_replies, m.fallback_rate, m.failed_turns) == (4, 2, 0.5, 1)
    assert m.top_intents == [("hours", 1), ("refund", 1)]
    assert m.csat_average == pytest.approx(3.0) and m.csat_response_rate == pytest.approx(2 / 3)
    assert (m.thumbs_up, m.thumbs_down, m.thumbs_up_ratio) == (1, 1, 0.5)
    assert (m.latency_p50_ms, m.latency_p95_ms) == (150.0, 1000.0)
    assert [q.text for q in m.unanswered] == ["blah blah", "what about <b>zebras</b>?"]
    assert [(d.day.day, d.conversations, d.messages) for d in m.daily] == [(10, 1, 2), (11, 0, 0), (12, 2, 3)]


def test_metrics_by_channel(demo_services, fixture: Fixture) -> None:
    with Session(demo_services.engine) as session:
        m = queries.compute(session, Scope(fixture.bot.id, START, END, channel="web"))
    assert (m.conversations, m.customer_messages, m.replied_messages, m.failed_turns) == (2, 3, 3, 0)
    assert (m.bot_replies, m.fallback_replies) == (3, 2)
    assert (m.csat_average, m.csat_responses, m.thumbs_up, m.thumbs_down) == (4.0, 1, 1, 0)


def test_empty_range_has_no_rates(demo_services, fixture: Fixture) -> None:
    with Session(demo_services.engine) as session:
        m = queries.compute(session, Scope(fixture.bot.id, date(2025, 1, 1), date(2025, 1, 2)))
    assert m.conversations == 0 and m.reply_rate is None and m.csat_average is None and m.latency_p50_ms is None


def test_percentile_nearest_rank() -> None:
    assert queries.percentile([], 50) is None
    assert queries.percentile([1.0], 95) == 1.0
    assert queries.percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert queries.answer_latency({"latency_ms": {"a": 1, "b": 2.5}}) == 3.5
    assert queries.answer_latency({"error": "boom"}) is None


def test_console_page_requires_login_and_shows_the_numbers(client, demo_services, fixture: Fixture) -> None:
    url = f"/admin/bots/{fixture.bot.slug}/metrics?start={START}&end={END}"
    assert client.get(url, follow_redirects=False).status_code == 303
    seeded = demo_services.seeded
    page = client.get(url, auth=console_auth(demo_services, seeded.admin_email))
    assert page.status_code == 200
    text = page.text
    for metric, value in [
        ("conversations", ">3"),
        ("customer_messages", ">5"),
        ("reply_rate", "80.0%"),
        ("fallback_rate", "50.0%"),
        ("failed_turns", ">1"),
        ("csat_average", "3.00"),
        ("csat_response_rate", "66.7%"),
        ("latency", "150 ms / 1000 ms"),
    ]:
        cell = text.split(f'data-metric="{metric}"', 1)[1].split("</td>", 1)[0]
        assert cell == value if value.startswith(">") else value in cell, (metric, cell)
    assert "<svg" in text and text.count("<rect") == 3
    assert "<b>zebras</b>" not in text and "&lt;b&gt;zebras&lt;/b&gt;" in text
    home = client.get("/admin/", auth=console_auth(demo_services, seeded.admin_email))
    assert f"/admin/bots/{fixture.bot.slug}/metrics" in home.text


def test_console_metrics_of_another_tenant_is_not_found(client, demo_services) -> None:
    with Session(demo_services.engine, expire_on_commit=False) as session:
        other = Tenant(name="Other shop")
        session.add(other)
        session.flush()
        bot = Bot(tenant_id=other.id, slug=f"other-{uuid.uuid4().hex[:8]}", name="Other")
        session.add(bot)
        session.commit()
    seeded = demo_services.seeded
    response = client.get(f"/admin/bots/{bot.slug}/metrics", auth=console_auth(demo_services, seeded.admin_email))
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_bot"


def test_console_rejects_a_reversed_range(client, demo_services, fixture: Fixture) -> None:
    seeded = demo_services.seeded
    url = f"/admin/bots/{fixture.bot.slug}/metrics?start={END}&end={START}"
    response = client.get(url, auth=console_auth(demo_services, seeded.admin_email))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_range"


def test_csv_export_of_the_daily_series(client, demo_services, fixture: Fixture) -> None:
    seeded = demo_services.seeded
    url = f"/admin/bots/{fixture.bot.slug}/metrics?start={START}&end={END}&format=csv"
    assert client.get(url, follow_redirects=False).status_code == 303
    response = client.get(url, auth=console_auth(demo_services, seeded.admin_email))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    picked = [
        {
            k: row[k]
            for k in (
                "day",
                "conversations",
                "customer_messages",
                "auto_resolved",
                "resolution_rate",
                "handoffs",
                "csat_ratings",
                "csat_average",
            )
        }
        for row in rows
    ]
    assert picked == [
        {
            "day": "2026-01-10",
            "conversations": "1",
            "customer_messages": "2",
            "auto_resolved": "1",
            "resolution_rate": "1.0",
            "handoffs": "0",
            "csat_ratings": "1",
            "csat_average": "4.0",
        },
        {
            "day": "2026-01-11",
            "conversations": "0",
            "customer_messages": "0",
            "auto_resolved": "0",
            "resolution_rate": "",
            "handoffs": "0",
            "csat_ratings": "0",
            "csat_average": "",
        },
        {
            "day": "2026-01-12",
            "conversations": "2",
            "customer_messages": "3",
            "auto_resolved": "0",
            "resolution_rate": "0.0",
            "handoffs": "0",
            "csat_ratings": "1",
            "csat_average": "2.0",
        },
    ]


def test_metrics_requires_the_bearer_token_when_one_is_set(client, monkeypatch) -> None:
    from pydantic import SecretStr

    monkeypatch.setattr(client.app.state.settings, "metrics_token", SecretStr("s3cret-token"))
    assert client.get("/metrics").json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    monkeypatch.setattr(client.app.state.settings, "metrics_token", None)
    monkeypatch.setattr(client.app.state.settings, "environment", "production")
    assert client.get("/metrics").status_code == 403


def test_prometheus_exposition_parses(client, fixture: Fixture) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    bot = ("bot", fixture.bot.slug)
    assert samples[("frontdesk_conversations_total", (bot,))] == 4  # all time: the late one counts too
    assert samples[("frontdesk_messages_total", (bot, ("role", "customer")))] == 6
    assert samples[("frontdesk_messages_total", (bot, ("role", "bot")))] == 5
    assert samples[("frontdesk_fallback_replies_total", (bot,))] == 2
    assert samples[("frontdesk_csat_average", (bot,))] == pytest.approx(3.0)
    assert samples[("frontdesk_conversations_total", (("bot", "demo"),))] >= 0


def test_the_same_counts_on_postgresql(request: pytest.FixtureRequest) -> None:
    """The aggregates are portable SQL: the hand counts hold on PostgreSQL too."""
    from server.db import create_db_engine, migrate
    from server.metrics.prometheus import DatabaseCollector

    engine = create_db_engine(request.getfixturevalue("postgres_url"))
    try:
        migrate(engine)
        with Session(engine, expire_on_commit=False) as session:
            tenant = Tenant(name="PG shop")
            session.add(tenant)
            session.commit()
            fixture = build(session, tenant.id)
            m = queries.compute(session, Scope(fixture.bot.id, START, END))
        assert (m.conversations, m.customer_messages, m.replied_messages, m.failed_turns) == (3, 5, 4, 1)
        assert (m.bot_replies, m.fallback_replies, m.thumbs_up, m.thumbs_down) == (4, 2, 1, 1)
        assert m.csat_average == pytest.approx(3.0) and (m.latency_p50_ms, m.latency_p95_ms) == (150.0, 1000.0)
        assert [(d.day.day, d.conversations, d.messages) for d in m.daily] == [(10, 1, 2), (11, 0, 0), (12, 2, 3)]
        assert m.top_intents == [("hours", 1), ("refund", 1)] and len(m.unanswered) == 2
        families = {f.name: f for f in DatabaseCollector(engine).collect()}
        assert families["frontdesk_csat_average"].samples[0].value == pytest.approx(3.0)
    finally:
        engine.dispose()


def test_console_page_filters_new_figures_and_fix_links(client, demo_services, fixture: Fixture) -> None:
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    base = f"/admin/bots/{fixture.bot.slug}/metrics?start={START}&end={END}"
    text = client.get(base, auth=auth).text
    for metric, value in [
        ("resolution_rate", "33.3% (1 / 3)"),
        ("handoff_rate", "0.0% (0 / 3)"),
        ("first_response", "1000 ms / 1000 ms"),
    ]:
        cell = text.split(f'data-metric="{metric}"', 1)[1].split("</td>", 1)[0]
        assert value in cell, (metric, cell)
    for chart in ("resolution_rate", "handoff_rate", "csat_average"):
        assert f'data-chart="{chart}"' in text
    assert 'data-metric="unanswered_clusters"' in text and 'data-metric="knowledge_gaps"' in text
    slug = fixture.bot.slug
    assert f"/admin/bots/{slug}/intents?example=blah+blah#add-example" in text
    assert f"/admin/bots/{slug}/rules?text=what+about+%3Cb%3Ezebras%3C%2Fb%3E%3F" in text
    assert '<option value="refund">' in text  # the intent filter lists the intents in range
    page = client.get(f"{base}&intent=hours&channel=web", auth=auth)
    assert page.status_code == 200
    cell = page.text.split('data-metric="conversations"', 1)[1].split("</td>", 1)[0]
    assert cell == ">1" and '<option value="hours" selected>' in page.text
    too_long = client.get(f"{base}&intent={'x' * 300}", auth=auth)
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "invalid_filter"


def test_log_export_of_the_scope(client, demo_services, fixture: Fixture) -> None:
    auth = console_auth(demo_services, demo_services.seeded.admin_email)
    url = f"/admin/bots/{fixture.bot.slug}/metrics?start={START}&end={END}&channel=web&format=csv&export=log"
    response = client.get(url, auth=auth)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f'filename="{fixture.bot.slug}-log-2026-01-10-2026-01-12-web.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["text"] for r in rows if r["role"] == "customer"] == [
        "opening hours?",
        "what about <b>zebras</b>?",
        "blah blah",
    ]
    jsonl = client.get(url.replace("format=csv", "format=jsonl"), auth=auth)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert len(jsonl.text.splitlines()) == len(rows) == 6

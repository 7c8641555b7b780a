"""The daily rollup equals the raw queries; invalidation; the new figures against hand counts; exports.

These run on a bare migrated database (no demo deployment), SQLite by default and PostgreSQL
where a local server runs.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from server import privacy
from server.channels.survey_texts import TEXTS
from server.db import create_db_engine, migrate
from server.metrics import export, feedback, insights, queries, rollup
from server.metrics.scope import Scope
from server.tables import Bot, Conversation, Feedback, Message, MetricsDaily, MetricsDay, Tenant

NOW = datetime.now(UTC)
TODAY = NOW.date()


@pytest.fixture()
def engine(tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A migrated SQLite database of its own."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def new_bot(session: Session) -> Bot:
    """A tenant and its bot."""
    tenant = Tenant(name="Shop")
    session.add(tenant)
    session.flush()
    bot = Bot(tenant_id=tenant.id, slug=f"m-{uuid.uuid4().hex[:8]}", name="M")
    session.add(bot)
    session.commit()
    return bot


def message(conversation: Conversation, role: str, at: datetime, text: str = "…", **values: object) -> Message:
    """A message row (not added)."""
    return Message(conversation_id=conversation.id, role=role, text=text, created_at=at, **values)


def random_data(session: Session, bot: Bot, rng: random.Random, conversations: int = 120) -> None:
    """Conversations over the last 12 days and today, with every outcome the figures distinguish."""
    for _ in range(conversations):
        day = rng.randint(0, 12)
        at = datetime.combine(TODAY - timedelta(days=day), datetime.min.time(), UTC)
        at += timedelta(seconds=rng.randint(0, 86399 if day else max(1, int((NOW - at).total_seconds()) - 600)))
        status = rng.choice(["bot"] * 6 + ["queued", "agent", "resolved"])
        conv = Conversation(
            bot_id=bot.id,
            channel=rng.choice(["web", "web", "telegram", "slack"]),
            status=status,
            created_at=at,
            updated_at=at,
        )
        session.add(conv)
        session.flush()
        t = at
        for _ in range(rng.randint(0, 4)):
            t += timedelta(seconds=rng.randint(1, 900))
            intent = rng.choice(["hours", "refund", "track", None])
            failed = rng.random() < 0.1
            customer = message(conv, "customer", t, "q", intent=intent, status="failed" if failed else "answered")
            session.add(customer)
            if failed:
                continue
            reply = message(
                conv,
                "bot",
                t + timedelta(seconds=1),
                reply_to=customer.id,
                intent=intent,
                fallback=rng.random() < 0.3,
                trace={"latency_ms": {"generate": rng.randint(1, 900)}},
            )
            session.add(reply)
            session.flush()
            if rng.random() < 0.2:
                session.add(
                    Feedback(
                        bot_id=bot.id,
                        conversation_id=conv.id,
                        message_id=reply.id,
                        kind="thumb",
                        score=rng.choice((1, -1)),
                    )
                )
        if status != "bot" and rng.random() < 0.7:
            session.add(message(conv, "agent", t + timedelta(seconds=30)))
        if status == "resolved" and rng.random() < 0.6:
            survey_round_trip(session, conv, t + timedelta(minutes=1), answered=rng.random() < 0.7)
        if rng.random() < 0.4:
            session.add(Feedback(bot_id=bot.id, conversation_id=conv.id, kind="csat", score=rng.randint(1, 5)))
    session.commit()


def survey_round_trip(session: Session, conversation: Conversation, at: datetime, *, answered: bool) -> None:
    """A channel survey as server/channels/survey.py stores it and, when answered, the rating and the thanks."""
    asked = {"kind": "csat", "state": "pending", "lang": "en"}
    session.add(message(conversation, "bot", at, TEXTS["en"]["ask"], trace={"survey": asked}))
    if not answered:
        return
    rating = message(conversation, "customer", at + timedelta(seconds=5), "4 - fine", status="answered")
    session.add(rating)
    session.flush()
    thanks = {**asked, "state": "answered", "score": 4}
    session.add(
        message(
            conversation,
            "bot",
            at + timedelta(seconds=6),
            TEXTS["en"]["thanks"],
            reply_to=rating.id,
            trace={"survey": thanks},
        )
    )


def figures(m: queries.BotMetrics) -> dict[str, object]:
    """Every computed figure, to compare two paths."""
    keep = (
        "conversations",
        "customer_messages",
        "replied_messages",
        "bot_replies",
        "fallback_replies",
        "failed_turns",
        "csat_responses",
        "thumbs_up",
        "thumbs_down",
        "handoffs",
        "auto_resolved",
        "top_intents",
        "intents",
        "channels",
    )
    out: dict[str, object] = {k: getattr(m, k) for k in keep}
    out["csat_average"] = None if m.csat_average is None else round(m.csat_average, 9)
    out["daily"] = [
        (d.day, d.conversations, d.messages, d.handoffs, d.auto_resolved, d.csat_sum, d.csat_ratings) for d in m.daily
    ]
    return out


SCOPES = [
    (TODAY - timedelta(days=12), TODAY, None, None),
    (TODAY - timedelta(days=12), TODAY, "web", None),
    (TODAY - timedelta(days=5), TODAY - timedelta(days=2), None, "refund"),
    (TODAY - timedelta(days=9), TODAY, "telegram", "hours"),
    (TODAY - timedelta(days=3), TODAY, None, ""),
    (TODAY - timedelta(days=30), TODAY - timedelta(days=20), None, None),
]


def check_rollup_equals_raw(engine: Engine, seed: int) -> None:
    with Session(engine) as session:
        bot = new_bot(session)
        random_data(session, bot, random.Random(seed))
        for start, end, channel, intent in SCOPES:
            scope = Scope(bot.id, start, end, channel=channel, intent=intent)
            raw = figures(queries.compute(session, scope, use_rollup=False))
            assert figures(queries.compute(session, scope)) == raw, scope
            assert figures(queries.compute(session, scope)) == raw, scope  # now read back from the rollup
        days = session.exec(select(MetricsDay.day).where(col(MetricsDay.bot_id) == bot.id)).all()
        assert TODAY not in days and TODAY - timedelta(days=2) in days  # today is live, closed days rolled up
        assert session.exec(select(MetricsDaily).where(col(MetricsDaily.bot_id) == bot.id)).first() is not None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollup_equals_the_raw_queries(engine: Engine, seed: int) -> None:
    check_rollup_equals_raw(engine, seed)


def test_rollup_equals_the_raw_queries_on_postgresql(request: pytest.FixtureRequest) -> None:
    engine = create_db_engine(request.getfixturevalue("postgres_url"))
    try:
        migrate(engine)
        check_rollup_equals_raw(engine, 4)
    finally:
        engine.dispose()


OLD = datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=10)


def hand_counted(session: Session) -> tuple[Bot, dict[str, Conversation]]:
    """Four conversations three days ago, counted by hand in the tests below.

    solved: two answered turns, first reply after 2 s           -> auto-resolved
    fell:   one fallback reply only, after 4 s                   -> not resolved (no real answer)
    human:  answered, then handed off (status agent), agent wrote -> handoff, first response 1 s
    broke:  a failed turn, then an agent answers after 60 s     -> handoff (agent wrote), not resolved
    """
    bot = new_bot(session)
    convs = {
        "solved": Conversation(bot_id=bot.id, channel="web", created_at=OLD, updated_at=OLD),
        "fell": Conversation(bot_id=bot.id, channel="web", created_at=OLD + timedelta(minutes=1), updated_at=OLD),
        "human": Conversation(
            bot_id=bot.id, channel="telegram", status="agent", created_at=OLD + timedelta(minutes=2), updated_at=OLD
        ),
        "broke": Conversation(bot_id=bot.id, channel="web", created_at=OLD + timedelta(minutes=3), updated_at=OLD),
    }
    session.add_all(convs.values())
    session.flush()
    s, f, h, b = (convs[k] for k in ("solved", "fell", "human", "broke"))
    q1 = message(s, "customer", s.created_at, "opening hours?", intent="hours", status="answered")
    q2 = message(s, "customer", s.created_at + timedelta(minutes=1), "and on sunday?", intent="hours")
    q3 = message(f, "customer", f.created_at, "Do you sell zebras?", status="answered")
    q4 = message(h, "customer", h.created_at, "refund please", intent="refund", status="answered")
    q5 = message(b, "customer", b.created_at, "=cmd|' /C calc'!A0", status="failed")
    session.add_all([q1, q2, q3, q4, q5])
    session.flush()
    session.add_all(
        [
            message(
                s,
                "bot",
                q1.created_at + timedelta(seconds=2),
                reply_to=q1.id,
                intent="hours",
                status="sent",
                trace={"passages": [{"score": 0.9}], "latency_ms": {"generate": 10}},
            ),
            message(
                s,
                "bot",
                q2.created_at + timedelta(seconds=1),
                reply_to=q2.id,
                intent="hours",
                status="sent",
                trace={"passages": [{"score": 0.2}, {"score": 0.25}], "latency_ms": {"generate": 20}},
            ),
            message(
                f,
                "bot",
                q3.created_at + timedelta(seconds=4),
                reply_to=q3.id,
                fallback=True,
                status="sent",
                trace={"passages": [], "fallback_reason": "no relevant passage"},
            ),
            message(
                h,
                "bot",
                q4.created_at + timedelta(seconds=1),
                reply_to=q4.id,
                intent="refund",
                status="sent",
                trace={"rule": "refunds", "latency_ms": {"rules": 5}},
            ),
            message(h, "agent", q4.created_at + timedelta(minutes=5), "Hi, I'm Ann"),
            message(b, "agent", q5.created_at + timedelta(seconds=60), "Sorry, let me help"),
        ]
    )
    session.add(Feedback(bot_id=bot.id, conversation_id=s.id, kind="csat", score=5))
    session.commit()
    return bot, convs


def test_new_figures_match_the_hand_counts(engine: Engine) -> None:
    with Session(engine) as session:
        bot, _ = hand_counted(session)
        scope = Scope(bot.id, TODAY - timedelta(days=6), TODAY)
        m = queries.compute(session, scope)
        assert (m.conversations, m.auto_resolved, m.handoffs) == (4, 1, 2)
        assert (m.resolution_rate, m.handoff_rate) == (0.25, 0.5)
        # first responses: 2 s, 4 s, 1 s, 60 s -> nearest rank p50 = 2 s, p95 = 60 s
        assert (m.first_response_p50_ms, m.first_response_p95_ms) == (2000.0, 60000.0)
        assert [d.auto_resolved for d in m.daily if d.day == OLD.date()] == [1]
        hours = queries.compute(session, Scope(bot.id, TODAY - timedelta(days=6), TODAY, intent="hours"))
        # messages of intent hours: 2 customer, 2 bot; conversations opening with hours: solved only
        assert (hours.customer_messages, hours.bot_replies, hours.conversations, hours.auto_resolved) == (2, 2, 1, 1)
        assert hours.csat_average == 5.0 and hours.first_response_p50_ms == 2000.0
        web = queries.compute(session, Scope(bot.id, TODAY - timedelta(days=6), TODAY, channel="web"))
        assert (web.conversations, web.handoffs, web.auto_resolved) == (3, 1, 1)
        assert m.intents == ["hours", "refund"] and m.channels == ["telegram", "web"]


def test_knowledge_gaps_and_clusters(engine: Engine) -> None:
    with Session(engine) as session:
        bot, _ = hand_counted(session)
        scope = Scope(bot.id, TODAY - timedelta(days=6), TODAY)
        gaps = insights.knowledge_gaps(session, scope)
        # "and on sunday?" searched with best 0.25 < 0.30; zebras found nothing; the rule reply searched nothing
        assert [(g.text, g.best_score, g.fallback) for g in gaps] == [
            ("Do you sell zebras?", None, True),
            ("and on sunday?", 0.25, False),
        ]
    assert insights.retrieval_score({"passages": [1, 2]}) == (False, None)
    assert insights.retrieval_score({"passages": [{"score": 0.4}, {"score": 0.7}]}) == (True, 0.7)
    texts = [
        "Where is my order?",
        "where is my order??",
        "Do you sell zebras",
        "where's my order",
        "do you sell zebras?",
        "完全不同的问题",
    ]
    groups = insights.group_similar(texts)
    assert sorted(sorted(g) for g in groups) == [[0, 1, 3], [2, 4], [5]]
    assert insights.group_similar([]) == []


def test_clusters_of_unanswered_questions(engine: Engine) -> None:
    with Session(engine) as session:
        bot = new_bot(session)
        conv = Conversation(bot_id=bot.id, created_at=OLD, updated_at=OLD)
        session.add(conv)
        session.flush()
        for i, text in enumerate(
            ["Do you sell zebras?", "do you sell zebras", "opening hours on sunday?", "Do you sell Zebras ?"]
        ):
            q = message(conv, "customer", OLD + timedelta(minutes=i), text)
            session.add(q)
            session.flush()
            session.add(message(conv, "bot", q.created_at + timedelta(seconds=1), reply_to=q.id, fallback=True))
        session.commit()
        clusters = queries.compute(session, Scope(bot.id, TODAY - timedelta(days=6), TODAY)).clusters
    assert [(c.text, c.count) for c in clusters] == [("Do you sell Zebras ?", 3), ("opening hours on sunday?", 1)]
    assert clusters[0].examples == ["do you sell zebras", "Do you sell zebras?"]


def test_invalidation_by_feedback_late_activity_and_deletion(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        bot, convs = hand_counted(session)
        scope = Scope(bot.id, TODAY - timedelta(days=6), TODAY)
        before = queries.compute(session, scope)
        assert session.get(MetricsDay, (bot.id, OLD.date())) is not None  # the closed day is rolled up
        assert (before.csat_responses, before.thumbs_down) == (1, 0)

        # late feedback on a conversation of a closed day
        feedback.record(session, convs["fell"].id, "csat", 1, None, None)
        assert session.get(MetricsDay, (bot.id, OLD.date())) is None
        after = queries.compute(session, scope)
        assert (after.csat_responses, after.csat_average) == (2, 3.0)

        # a late handoff: the conversation changes today (updated_at), the closed day is recomputed
        solved = session.get(Conversation, convs["solved"].id)
        assert solved is not None
        solved.status, solved.updated_at = "queued", datetime.now(UTC)
        session.add(solved)
        session.commit()
        late = queries.compute(session, scope)
        assert (late.handoffs, late.auto_resolved) == (3, 0)
        assert late.handoffs == queries.compute(session, scope, use_rollup=False).handoffs

    # a customer's deletion drops their conversation from the closed day's figures
    with Session(engine) as session:
        conv = session.get(Conversation, convs["human"].id)
        assert conv is not None
        conv.external_user_id = "cust-1"
        session.add(conv)
        session.commit()
    privacy.delete_customer(engine, bot.slug, "cust-1")
    with Session(engine) as session:
        gone = queries.compute(session, scope)
        assert (gone.conversations, gone.handoffs, gone.customer_messages) == (3, 2, 4)
        assert figures(gone) == figures(queries.compute(session, scope, use_rollup=False))


def test_a_day_is_closed_only_after_the_grace_period() -> None:
    just_after = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert rollup.first_open_day(just_after) == date(2026, 3, 1)
    assert rollup.first_open_day(datetime(2026, 3, 2, 1, 30, tzinfo=UTC)) == date(2026, 3, 2)


def test_log_export_streams_in_batches_and_escapes_csv(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        bot, _ = hand_counted(session)
    scope = Scope(bot.id, TODAY - timedelta(days=6), TODAY)
    rows = list(export.log_rows(engine, scope, batch=2))  # keyset pages of two rows
    assert len(rows) == 11 and len({r["message_id"] for r in rows}) == 11
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    chunks = export.csv_lines(iter(rows), export.LOG_COLUMNS)
    assert next(chunks).startswith("conversation_id,channel,message_id")  # a generator: row by row
    parsed = list(
        csv.DictReader(
            io.StringIO(
                "conversation_id,channel,message_id,created_at,role,text,intent,"
                "fallback,status,reply_to,trace\r\n" + "".join(chunks)
            )
        )
    )
    assert len(parsed) == 11
    formula = next(r for r in parsed if r["status"] == "failed")
    assert formula["text"] == "'=cmd|' /C calc'!A0"  # neutralised for spreadsheets
    with_trace = next(r for r in parsed if r["trace"].startswith("{"))
    assert isinstance(json.loads(with_trace["trace"]), dict)
    web_hours = list(export.log_rows(engine, Scope(bot.id, scope.start, scope.end, channel="web", intent="hours")))
    assert [r["text"] for r in web_hours if r["role"] == "customer"] == ["opening hours?", "and on sunday?"]
    lines = list(export.jsonl_lines(iter(rows)))
    assert len(lines) == 11 and json.loads(lines[0])["conversation_id"]


def test_csv_cell_escaping() -> None:
    assert export.csv_cell(None) == "" and export.csv_cell(-1) == "-1"
    assert export.csv_cell("+1 555") == "'+1 555" and export.csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert export.csv_cell({"a": [1]}) == '{"a": [1]}' and export.csv_cell("plain") == "plain"

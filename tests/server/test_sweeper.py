"""The sweeper gives customer messages whose turn died a failed outcome and an apology, exactly once.

Covered on SQLite and on the real PostgreSQL at 127.0.0.1, including two sweepers racing over the
same stale messages, and the app running a sweep at startup.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from server.store import history
from server.sweeper import ABANDONED, APOLOGY, SweeperSettings, sweep
from server.tables import Bot, Conversation, Message, utcnow

STALE = timedelta(seconds=120)


def add_message(engine: Any, age: timedelta, status: str = "received", conversation_status: str = "bot") -> str:
    """A customer message of a new conversation of bot 'shop', `age` old; returns its id."""
    with Session(engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        conversation = Conversation(bot_id=bot.id, channel="web", status=conversation_status)
        session.add(conversation)
        session.flush()
        message = Message(
            conversation_id=conversation.id,
            role="customer",
            text="where is my parcel?",
            status=status,
            client_id="c1",
            created_at=utcnow() - age,
        )
        session.add(message)
        session.commit()
        return message.id


def outcome(engine: Any, message_id: str) -> tuple[Message, list[Message]]:
    """The customer message and the replies stored to it."""
    with Session(engine, expire_on_commit=False) as session:
        message = session.get(Message, message_id)
        replies = list(session.exec(select(Message).where(Message.reply_to == message_id)).all())
    assert message is not None
    return message, replies


def assert_swept(engine: Any, message_id: str, seconds: int = 120) -> None:
    """Failed with the reason on the trace, one apology reply, shown in the conversation's history."""
    message, replies = outcome(engine, message_id)
    assert message.status == "failed"
    assert message.trace and message.trace["outcome"] == ABANDONED
    assert f"no reply within {seconds} s" in message.trace["error"]
    assert len(replies) == 1 and replies[0].text == APOLOGY and replies[0].fallback
    with Session(engine) as session:
        shown = [m.text for m in history(session, message.conversation_id)]
    assert shown == ["where is my parcel?", APOLOGY]


def test_a_stale_unanswered_message_gets_a_failed_outcome_and_an_apology(shop_services) -> None:  # type: ignore[no-untyped-def]
    engine = shop_services.engine
    stale = add_message(engine, timedelta(minutes=5))
    fresh = add_message(engine, timedelta(seconds=10))
    answered = add_message(engine, timedelta(minutes=5), status="answered")
    held = add_message(engine, timedelta(minutes=5), conversation_status="agent")
    held_marked = add_message(engine, timedelta(minutes=5), status="held")
    taken = sweep(engine, STALE)
    assert [s.message_id for s in taken] == [stale]
    assert_swept(engine, stale)
    for untouched, status in ((fresh, "received"), (answered, "answered"), (held, "received"), (held_marked, "held")):
        message, replies = outcome(engine, untouched)
        assert message.status == status and replies == []
    assert sweep(engine, STALE) == []  # a second pass takes nothing


def test_a_message_an_agent_answered_later_is_not_swept(shop_services) -> None:  # type: ignore[no-untyped-def]
    engine = shop_services.engine
    message_id = add_message(engine, timedelta(minutes=10))
    with Session(engine) as session:
        conversation_id = session.get(Message, message_id).conversation_id  # type: ignore[union-attr]
        agent = Message(
            conversation_id=conversation_id,
            role="agent",
            text="here",
            status="sent",
            created_at=utcnow() - timedelta(minutes=9),
        )
        session.add(agent)
        session.commit()
    assert sweep(engine, STALE) == []


def test_a_turn_in_a_held_conversation_marks_the_message_held(client) -> None:  # type: ignore[no-untyped-def]
    """The bot stays silent while a person holds the conversation: the message waits for them, not a turn."""
    first = client.post("/api/v1/bots/demo/messages", json={"text": "hello"}).json()
    engine = client.app.state.services.engine
    with Session(engine) as session:
        session.exec(
            update(Conversation)
            .where(col(Conversation.id) == first["conversation_id"])  # type: ignore[call-overload]
            .values(status="agent")
        )
        session.commit()
    body = {"text": "are you there?", "conversation_id": first["conversation_id"]}
    second = client.post("/api/v1/bots/demo/messages", json=body).json()
    assert second["reply"] is None
    with Session(engine) as session:
        assert session.get(Message, second["message_id"]).status == "held"  # type: ignore[union-attr]


def test_the_app_sweeps_at_startup(shop_services) -> None:  # type: ignore[no-untyped-def]
    from server.app import create_app

    engine = shop_services.engine
    stale = add_message(engine, timedelta(minutes=10))
    with TestClient(create_app(shop_services.settings, shop_services)):  # the default: 300 s
        deadline = time.monotonic() + 20
        while outcome(engine, stale)[0].status == "received" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert_swept(engine, stale, int(SweeperSettings().stale_after_seconds))


@pytest.fixture()
def postgres_shop(postgres_url: str, tmp_path) -> Any:  # type: ignore[no-untyped-def]
    """Services with bot 'shop' on a fresh PostgreSQL database."""
    from server.context import Services
    from server.seed import create_bot
    from server.tables import Tenant
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data").model_copy(update={"database_url": postgres_url})
    services = Services.open(settings)
    with Session(services.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
    yield services
    services.close()


def test_sweeping_works_on_postgres(postgres_shop) -> None:  # type: ignore[no-untyped-def]
    engine = postgres_shop.engine
    stale = add_message(engine, timedelta(minutes=5))
    fresh = add_message(engine, timedelta(seconds=5))
    assert [s.message_id for s in sweep(engine, STALE)] == [stale]
    assert_swept(engine, stale)
    assert outcome(engine, fresh)[0].status == "received"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_two_racing_sweepers_take_each_message_exactly_once(database: str, request: pytest.FixtureRequest) -> None:
    services = request.getfixturevalue("postgres_shop" if database == "postgres" else "shop_services")
    engine = services.engine
    stale = {add_message(engine, timedelta(minutes=5)) for _ in range(40)}
    start = threading.Barrier(4)
    results: list[list[str]] = [[] for _ in range(4)]

    def run(index: int) -> None:
        start.wait()
        results[index] = [s.message_id for s in sweep(engine, STALE)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    taken = [m for r in results for m in r]
    assert sorted(taken) == sorted(stale)  # every message taken, none twice
    for message_id in stale:
        message, replies = outcome(engine, message_id)
        assert message.status == "failed" and len(replies) == 1

"""A message refused as busy and re-sent is taken up again; a failed turn stays failed.

The store-level life of a customer message across a busy refusal and the customer's re-send, on
SQLite and on the real PostgreSQL at 127.0.0.1 (the trace is read with JSON operators in SQL).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.types import BotReply, Trace
from server import store
from server.admission import Busy, record_busy
from server.sweeper import ABANDONED, sweep
from server.tables import Bot, Conversation, Message, Tenant, utcnow

STALE = timedelta(seconds=120)


@pytest.fixture()
def postgres_shop(postgres_url: str, tmp_path) -> Any:  # type: ignore[no-untyped-def]
    """Services with bot 'shop' on a fresh PostgreSQL database (skips where none runs)."""
    from server.context import Services
    from server.seed import create_bot
    from tests.conftest import make_settings

    services = Services.open(make_settings(tmp_path / "data").model_copy(update={"database_url": postgres_url}))
    with Session(services.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
    yield services
    services.close()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Any:
    services = request.getfixturevalue("postgres_shop" if request.param == "postgres" else "shop_services")
    return services.engine


def conversation_of(engine: Any) -> Conversation:
    with Session(engine, expire_on_commit=False) as session:
        bot = session.exec(select(Bot).where(Bot.slug == "shop")).one()
        return store.start_conversation(session, bot, "web")


def send(engine: Any, conversation: Conversation, client_id: str = "c1") -> store.Received:
    with Session(engine, expire_on_commit=False) as session:
        return store.receive(session, conversation, "where is my parcel?", client_id)


def refuse(engine: Any, message: Message, retry_after: float = 7) -> None:
    record_busy(engine, message, Busy(3, retry_after))


def reply(engine: Any, message: Message, fallback: bool = False) -> Message:
    with Session(engine, expire_on_commit=False) as session:
        return store.record_reply(session, message, BotReply("It ships today.", [], None, fallback, Trace()))


def fresh(engine: Any, message_id: str) -> Message:
    with Session(engine, expire_on_commit=False) as session:
        message = session.get(Message, message_id)
    assert message is not None
    return message


def updated_at(engine: Any, conversation: Conversation) -> Any:
    with Session(engine) as session:
        return session.exec(select(Conversation.updated_at).where(Conversation.id == conversation.id)).one()


def test_a_re_sent_busy_message_is_received_again_and_ends_answered(engine: Any) -> None:
    conversation = conversation_of(engine)
    first = send(engine, conversation)
    refuse(engine, first.message)
    refused = fresh(engine, first.message.id)
    assert (refused.status, refused.trace["outcome"]) == ("failed", "busy")  # the outcome while nobody retries
    before = updated_at(engine, conversation)

    again = send(engine, conversation)
    assert updated_at(engine, conversation) > before  # a rolled-up metrics day with it is recomputed
    assert again.duplicate and again.retried and again.reply is None and again.message.id == first.message.id
    assert again.message.status == "received"  # the caller sees the state it now runs the turn in
    reply(engine, again.message)

    answered = fresh(engine, first.message.id)
    assert answered.status == "answered"
    assert "error" not in answered.trace and "outcome" not in answered.trace
    assert answered.trace[store.REFUSED] == {
        "error": refused.trace["error"], "outcome": "busy", "busy_source": "admission", "retry_after": 7,
    }
    assert answered.trace[store.RETRIED_AT] > store.iso(utcnow() - timedelta(minutes=1))
    third = send(engine, conversation)
    assert third.reply is not None and not third.retried  # a third send is a plain redelivery


def test_a_turn_that_fails_after_the_re_send_stays_failed_with_its_apology(engine: Any) -> None:
    conversation = conversation_of(engine)
    first = send(engine, conversation)
    refuse(engine, first.message)
    again = send(engine, conversation)
    with Session(engine, expire_on_commit=False) as session:  # what ChatService.turn does on a crash
        store.record_failure(session, again.message, "RuntimeError: model exploded")
    apology = reply(engine, again.message, fallback=True)

    failed = fresh(engine, first.message.id)
    assert failed.status == "failed" and failed.trace["error"] == "RuntimeError: model exploded"
    assert "outcome" not in failed.trace and failed.trace["refused"]["outcome"] == "busy"  # the history is kept
    assert not store.refused_as_busy(failed)
    later = send(engine, conversation)
    assert later.reply is not None and later.reply.id == apology.id  # answered once: the apology
    assert fresh(engine, first.message.id).status == "failed"


def test_a_re_sent_busy_message_in_a_conversation_a_person_holds_is_held(engine: Any) -> None:
    conversation = conversation_of(engine)
    first = send(engine, conversation)
    refuse(engine, first.message)
    again = send(engine, conversation)
    with Session(engine) as session:
        store.mark_held(session, again.message)
    assert fresh(engine, first.message.id).status == "held"


def test_a_message_that_failed_for_another_reason_is_not_taken_up_again(engine: Any) -> None:
    """Only a busy refusal is undone by a re-send; a crash (or a busy-looking trace with another error) is not."""
    conversation = conversation_of(engine)
    crashed = send(engine, conversation, "crash")
    with Session(engine) as session:
        store.record_failure(session, crashed.message, "RuntimeError: boom")
    mixed = send(engine, conversation, "mixed")
    with Session(engine) as session:  # e.g. speech-to-text failed on a re-send: the error is no longer busy
        session.exec(  # type: ignore[call-overload]
            update(Message)
            .where(col(Message.id) == mixed.message.id)
            .values(status="failed", trace={"outcome": "busy", "error": "VoiceError: silence"})
        )
        session.commit()
    for message_id, client_id in ((crashed.message.id, "crash"), (mixed.message.id, "mixed")):
        again = send(engine, conversation, client_id)
        assert again.duplicate and not again.retried and again.message.status == "failed"
        assert fresh(engine, message_id).status == "failed"


def test_the_sweeper_counts_a_re_sent_message_from_the_re_send(engine: Any) -> None:
    """A turn running for a message stored long ago but re-sent now is not abandoned; one that died is."""
    conversation = conversation_of(engine)
    running, died = send(engine, conversation, "running"), send(engine, conversation, "died")
    with Session(engine) as session:  # both were stored ten minutes ago
        session.exec(  # type: ignore[call-overload]
            update(Message)
            .where(col(Message.conversation_id) == conversation.id)
            .values(created_at=utcnow() - timedelta(minutes=10))
        )
        session.commit()
    for received in (running, died):
        refuse(engine, received.message)
        send(engine, conversation, received.message.client_id or "")
    with Session(engine) as session:  # the second re-send was five minutes ago, and its worker died
        message = session.get(Message, died.message.id)
        assert message is not None and message.trace
        message.trace = {**message.trace, store.RETRIED_AT: store.iso(utcnow() - timedelta(minutes=5))}
        session.add(message)
        session.commit()

    taken = sweep(engine, STALE)

    assert [s.message_id for s in taken] == [died.message.id]
    swept = fresh(engine, died.message.id)
    assert swept.trace["outcome"] == ABANDONED and swept.trace["refused"]["outcome"] == "busy"
    assert fresh(engine, running.message.id).status == "received"
    reply(engine, running.message)
    assert fresh(engine, running.message.id).status == "answered"

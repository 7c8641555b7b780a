"""A real PostgreSQL restart mid-conversation (issue 10), on a private cluster this test may stop.

The app runs for real (websocket and REST routes, Alembic migrations, the connection pool) against a
cluster of its own (tests/pg_cluster.py); the generator is bench/fake_openai.py, slowed down on demand so a
reply can be in flight when `pg_ctl stop -m fast` ends every database session. Asserted: nothing hangs,
a message sent while the database is down gets a retryable `unavailable` answer, the conversation goes
on after the restart, and every customer message stored ends with a reply or a recorded failure.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from starlette.websockets import WebSocketDisconnect

from bench.fake_openai import Behaviour, serving
from bot.generation.config import GenerationSettings
from bot.generation.openai_compat import OpenAIGenerator
from server.chat import REPLY_UNAVAILABLE, UNAVAILABLE
from server.db import DATABASE_UNAVAILABLE, create_db_engine
from server.ratelimit import RateLimitSettings
from server.sweeper import ABANDONED, sweep
from server.tables import Message
from tests.pg_cluster import PgCluster, pg_cluster  # noqa: F401  (the fixture)
from tests.server.test_faults import QUESTION, SHIPPING, add_document, frames_until_final

FAST, SLOW = 0.01, 0.2  # seconds between streamed words; a SLOW reply (30 words) is in flight for ~6 s
FAST_FAIL_S = 10.0  # a turn against a stopped server fails this fast (connection refused, no waiting)
@pytest.fixture()
def restart_shop(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    """The shop bot on the private cluster (migrated by Services.open), a fake embedder, no re-ranker."""
    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import create_bot
    from server.tables import Tenant
    from tests.conftest import make_settings
    from tests.fakes import HashEmbedder

    settings = make_settings(tmp_path / "data", knowledge=KnowledgeSettings(reranker="none"))
    url = pg_cluster.create_database("frontdesk")
    settings = settings.model_copy(update={"database_url": url, "rate_limits": RateLimitSettings(enabled=False)})
    services = Services.open(settings)
    services.embedders._models[(settings.knowledge.embedding_model, settings.knowledge.device)] = HashEmbedder()
    with Session(services.engine) as session:
        tenant = Tenant(name="Shop")
        session.add(tenant)
        session.commit()
        create_bot(session, tenant.id, "shop", "Shop")
    assert add_document(services, tmp_path, "shipping.md", SHIPPING).ok
    yield services
    services.close()


@pytest.fixture()
def model() -> Iterator[tuple[Behaviour, str]]:
    """The fake OpenAI-compatible server and its URL; set `.delay = SLOW` to keep a reply in flight."""
    behaviour = Behaviour(delay=FAST, max_words=30)
    with serving(behaviour) as url:
        yield behaviour, url


def open_app(services: Any, url: str) -> TestClient:
    """The real app on these services, the shop bot generating with the fake server at url."""
    from server.app import create_app

    runtime = services.runtimes.get("shop")
    settings = GenerationSettings(backend="openai", openai_base_url=url, timeout_seconds=5.0, retries=0)
    runtime.generator = OpenAIGenerator(settings)
    return TestClient(create_app(services.settings, services))


def send(ws: Any, client_id: str, text: str) -> list[dict]:
    """Send a message frame; its frames up to `final` or `error` (a hang fails the test)."""
    ws.send_json({"type": "message", "id": client_id, "text": text})
    return frames_until_final(ws)


def receive_within(ws: Any, limit: float = 15.0) -> dict:
    """The next frame, read in a thread: a socket that hangs fails the test instead of blocking it."""
    got: list[Any] = []

    def read() -> None:
        try:
            got.append(ws.receive_json())
        except BaseException as exc:  # re-raised below, in the test's thread
            got.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(limit)
    assert got, f"no frame within {limit} s: the socket hung"
    if isinstance(got[0], BaseException):
        raise got[0]
    return got[0]


def customer_messages(services: Any, conversation_id: str) -> list[Message]:
    """The conversation's stored customer messages, oldest first."""
    with Session(services.engine) as session:
        query = select(Message).where(Message.conversation_id == conversation_id, Message.role == "customer")
        return sorted(session.exec(query).all(), key=lambda m: m.created_at)


def assert_every_message_has_an_outcome(services: Any, conversation_id: str) -> dict[str, Message]:
    """Every stored customer message is answered with a stored reply, or failed with a reason; returns the replies."""
    with Session(services.engine) as session:
        rows = session.exec(select(Message).where(Message.conversation_id == conversation_id)).all()
    replies = {m.reply_to: m for m in rows if m.role == "bot"}
    for message in (m for m in rows if m.role == "customer"):
        assert message.id in replies, f"customer message {message.client_id or message.id} has no reply"
        if message.status == "failed":
            assert (message.trace or {}).get("error"), f"failed message {message.id} has no reason"
        else:
            assert message.status == "answered", (message.client_id, message.status)
    return replies


def test_a_restart_mid_reply_and_between_turns_keeps_the_socket_answering(
    restart_shop: Any, pg_cluster: PgCluster, model: tuple[Behaviour, str]  # noqa: F811
) -> None:
    """Asserted, on one socket: the server stops while m2's reply streams -> m2 ends with a retryable
    `unavailable` error frame, not a hang; m3 sent while it is down -> `unavailable` at once, and the
    socket still answers a ping; after the restart a new message m4 is answered, and re-sending m3 and
    m2 with their ids answers them (m2 once: no second copy is stored). Then the server stops during m5's
    reply and comes back, m5 is never re-sent: the sweeper gives it a failed outcome and an apology.
    Every customer message ends with a reply or a recorded failure."""
    services = restart_shop
    with open_app(services, model[1]) as client, client.websocket_connect("/ws/chat/shop") as ws:
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        first = send(ws, "m1", QUESTION)
        assert first[0]["type"] == "ack" and first[-1]["type"] == "final", first

        model[0].delay = SLOW
        ws.send_json({"type": "message", "id": "m2", "text": "And express shipping?"})
        ack, chunk = ws.receive_json(), ws.receive_json()
        assert ack["type"] == "ack" and chunk["type"] == "chunk", (ack, chunk)
        pg_cluster.stop()  # every database session ends while the reply streams
        model[0].delay = FAST
        interrupted = frames_until_final(ws)
        assert interrupted[-1] == {
            "type": "error", "code": "unavailable", "message": REPLY_UNAVAILABLE, "reply_to": "m2",
        }, interrupted

        started = time.monotonic()
        down = send(ws, "m3", "Do you ship to Canada?")
        assert down == [{"type": "error", "code": "unavailable", "message": UNAVAILABLE, "reply_to": "m3"}]
        assert time.monotonic() - started < FAST_FAIL_S
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # the socket is not stuck

        pg_cluster.start()
        after = send(ws, "m4", QUESTION)
        resent_m3 = send(ws, "m3", "Do you ship to Canada?")
        resent_m2 = send(ws, "m2", "And express shipping?")

        model[0].delay = SLOW  # a second restart mid-reply, and this time nobody re-sends the message
        ws.send_json({"type": "message", "id": "m5", "text": QUESTION})
        assert [receive_within(ws)["type"] for _ in range(2)] == ["ack", "chunk"]
        pg_cluster.stop()
        model[0].delay = FAST
        abandoned = frames_until_final(ws)
        pg_cluster.start()
    for frames in (after, resent_m3, resent_m2):
        assert frames[0]["type"] == "ack" and frames[-1]["type"] == "final", frames
    assert resent_m2[0]["message_id"] == ack["message_id"]  # the stored m2, not a second copy
    assert abandoned[-1]["code"] == "unavailable", abandoned
    customers = {m.client_id: m for m in customer_messages(services, conversation_id)}
    assert list(customers) == ["m1", "m2", "m4", "m3", "m5"]
    assert [m.status for m in customers.values()] == ["answered"] * 4 + ["received"]
    swept = sweep(services.engine, timedelta(0))  # what the sweeper does once m5 is stale_after old
    assert [s.message_id for s in swept] == [customers["m5"].id]
    replies = assert_every_message_has_an_outcome(services, conversation_id)
    assert replies[customers["m4"].id].text == after[-1]["text"]
    assert replies[customers["m2"].id].text == resent_m2[-1]["text"]
    assert replies[customers["m5"].id].trace["outcome"] == ABANDONED


def test_a_restart_on_the_rest_path_fails_clearly_and_the_sweeper_closes_the_interrupted_turn(
    restart_shop: Any, pg_cluster: PgCluster, model: tuple[Behaviour, str]  # noqa: F811
) -> None:
    """Asserted, on /api/v1: the server stops while a turn is in flight -> that request ends 503
    `unavailable` within seconds and its stored message stays `received`; after the restart the same
    conversation is answered and its history is readable; the sweeper then gives the interrupted message
    a failed outcome with its reason and an apology, so every stored message has an outcome."""
    services = restart_shop
    with open_app(services, model[1]) as client:
        first = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
        assert first.status_code == 200, first.text
        conversation_id = first.json()["conversation_id"]
        body = {"text": "And express shipping?", "conversation_id": conversation_id, "client_message_id": "r2"}
        answer: dict[str, Any] = {}

        def post() -> None:
            try:
                answer["response"] = client.post("/api/v1/bots/shop/messages", json=body)
            except BaseException as exc:  # the TestClient re-raises a server error: fail in the test's thread
                answer["error"] = exc

        model[0].delay = SLOW
        in_flight = threading.Thread(target=post, daemon=True)
        in_flight.start()
        deadline = time.monotonic() + 10
        while len(customer_messages(services, conversation_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(customer_messages(services, conversation_id)) == 2, "the second message was never stored"
        pg_cluster.stop()
        model[0].delay = FAST
        in_flight.join(30)
        assert not in_flight.is_alive(), "the request hung after the database went away"
        assert "error" not in answer, f"the request failed inside the server: {answer.get('error')!r}"
        interrupted = answer["response"]
        assert interrupted.status_code == 503, interrupted.text
        assert interrupted.headers.get("retry-after") == "5"
        assert interrupted.json() == {"error": {"code": "unavailable", "message": REPLY_UNAVAILABLE}}

        pg_cluster.start()
        third = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION, "conversation_id": conversation_id})
        assert third.status_code == 200, third.text
        history = client.get(f"/api/v1/conversations/{conversation_id}/messages")
        assert history.status_code == 200, history.text
    assert [m["role"] for m in history.json()] == ["customer", "bot", "customer", "customer", "bot"]
    stranded = [m for m in customer_messages(services, conversation_id) if m.status == "received"]
    assert [m.client_id for m in stranded] == ["r2"]  # stored, not yet answered: the sweeper's case

    swept = sweep(services.engine, timedelta(0))
    assert [s.message_id for s in swept] == [stranded[0].id]
    replies = assert_every_message_has_an_outcome(services, conversation_id)
    with Session(services.engine) as session:
        failed = session.get(Message, stranded[0].id)
    assert failed is not None and failed.status == "failed" and failed.trace["outcome"] == ABANDONED
    assert replies[failed.id].fallback is True


def test_the_rest_path_while_the_database_is_down_answers_503(
    restart_shop: Any, pg_cluster: PgCluster, model: tuple[Behaviour, str]  # noqa: F811
) -> None:
    """Asserted: a POST while the server is stopped is a quick 503 `unavailable` in the one error shape
    (not a 500), and after the restart the same request is answered."""
    services = restart_shop
    with open_app(services, model[1]) as client:
        first = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
        conversation_id = first.json()["conversation_id"]
        pg_cluster.stop()
        started = time.monotonic()
        down = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION, "conversation_id": conversation_id})
        took = time.monotonic() - started
        pg_cluster.start()
        back = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION, "conversation_id": conversation_id})
    assert took < FAST_FAIL_S
    assert down.status_code == 503, down.text
    assert down.headers.get("retry-after") == "5"
    assert down.json()["error"]["code"] == "unavailable"
    assert back.status_code == 200, back.text
    assert len(customer_messages(services, conversation_id)) == 2
    assert_every_message_has_an_outcome(services, conversation_id)


def test_sockets_opened_or_greeted_while_the_database_is_down_get_unavailable_and_stay_usable(
    restart_shop: Any, pg_cluster: PgCluster, model: tuple[Behaviour, str]  # noqa: F811
) -> None:
    """Asserted: with the server stopped, a new socket is refused with `unavailable` and close code 1013
    (try again later); on an open socket a first message (it would start a conversation) and a hello
    each get `unavailable` and the socket still answers; after the restart the same socket says hello
    and its message is answered."""
    services = restart_shop
    with open_app(services, model[1]) as client, client.websocket_connect("/ws/chat/shop") as ws:
        pg_cluster.stop()
        with client.websocket_connect("/ws/chat/shop") as refused:
            refusal = receive_within(refused)
            with pytest.raises(WebSocketDisconnect) as closed:
                receive_within(refused)
        ws.send_json({"type": "message", "id": "f1", "text": QUESTION})
        first = receive_within(ws)
        ws.send_json({"type": "hello"})
        hello_down = receive_within(ws)
        ws.send_json({"type": "ping"})
        pong = receive_within(ws)
        pg_cluster.start()
        ws.send_json({"type": "hello"})
        ready = receive_within(ws)
        answered = send(ws, "f1", QUESTION)
    assert refusal == {"type": "error", "code": "unavailable", "message": DATABASE_UNAVAILABLE}
    assert closed.value.code == 1013
    assert first == {"type": "error", "code": "unavailable", "message": UNAVAILABLE, "reply_to": "f1"}
    assert hello_down == {"type": "error", "code": "unavailable", "message": DATABASE_UNAVAILABLE}
    assert pong == {"type": "pong"} and ready["type"] == "ready"
    assert answered[0]["type"] == "ack" and answered[-1]["type"] == "final", answered
    assert [m.client_id for m in customer_messages(services, ready["conversation_id"])] == ["f1"]
    assert_every_message_has_an_outcome(services, ready["conversation_id"])


def test_a_database_host_that_never_answers_fails_within_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asserted: a host that accepts the TCP connection but never speaks (a hung or half-dead server)
    fails a checkout after CONNECT_TIMEOUT_S, not after the operating system's TCP timeout."""
    from server import db

    monkeypatch.setattr(db, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as silent:  # the kernel completes the handshake; nobody ever reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        engine = create_db_engine(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/frontdesk")
        outcome: list[BaseException | None] = []

        def connect() -> None:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                outcome.append(None)
            except BaseException as exc:  # inspected below, in the test's thread
                outcome.append(exc)

        started = time.monotonic()
        attempt = threading.Thread(target=connect, daemon=True)
        attempt.start()
        attempt.join(10)  # closing the listener below then ends an attempt that is still waiting
        took = time.monotonic() - started
    engine.dispose()
    assert outcome, "the checkout still waited after 10 s: no connect timeout"
    assert isinstance(outcome[0], OperationalError), outcome
    assert took < 5

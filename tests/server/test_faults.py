"""Faults, in one process: the generation backend down, slow or garbled; PostgreSQL connections killed;
the Redis listener's connection killed; the disk filling up during ingestion. Each keeps every message.

The generation faults use bench/fake_openai.py, a real HTTP server streaming server-sent events.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from bench.fake_openai import Behaviour, free_port, serving
from bot.generation.config import GenerationSettings
from bot.generation.openai_compat import OpenAIGenerator
from server.chat import UNAVAILABLE
from server.ingest import ingest_file
from server.ratelimit import RateLimitSettings
from server.tables import Document, Message

SHIPPING = "# Shipping\n\nStandard shipping takes 5 business days. Express shipping takes 1-2 business days.\n"
QUESTION = "How long does standard shipping take?"
REDIS_URL = "redis://127.0.0.1:6379/13"


def add_document(services: Any, folder: Path, name: str, body: str) -> Any:
    path = folder / name
    path.write_text(body)
    return ingest_file(services.runtimes, "shop", path)


def client_for(services: Any) -> TestClient:
    from server.app import create_app

    settings = services.settings.model_copy(update={"rate_limits": RateLimitSettings(enabled=False)})
    return TestClient(create_app(settings, services))


@pytest.fixture()
def shop(shop_services, tmp_path: Path) -> Any:  # type: ignore[no-untyped-def]
    """The shop bot with one shipping page indexed."""
    assert add_document(shop_services, tmp_path, "shipping.md", SHIPPING).ok
    return shop_services


def use_openai(services: Any, url: str) -> None:
    """Point the shop bot's generator at an OpenAI-compatible URL (1 s timeout, no retries)."""
    settings = GenerationSettings(backend="openai", openai_base_url=url, timeout_seconds=1.0, retries=0)
    runtime = services.runtimes.get("shop")
    runtime.generator.close() if hasattr(runtime.generator, "close") else None
    runtime.generator = OpenAIGenerator(settings)


def ask(client: TestClient) -> tuple[dict, float]:
    started = time.monotonic()
    response = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


def test_a_working_backend_answers_with_the_model(shop) -> None:  # type: ignore[no-untyped-def]
    """The control case: the same setup with a healthy server is the model's answer, not a fallback."""
    with serving(Behaviour()) as url, client_for(shop) as client:
        use_openai(shop, url)
        body, _ = ask(client)
    assert body["trace"]["backend"] == "openai" and not body["trace"].get("fallback_reason")
    assert "5 business days" in body["reply"]["text"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("refused", "openai failed: GenerationUnavailable"),
        ("error", "openai busy: GenerationBusy"),  # 503 overloaded: the server is full, not broken
        ("hang", "openai timeout: GenerationTimeout"),
    ],
)
def test_a_backend_that_is_down_or_slow_falls_back_to_the_extractive_answer(shop, mode: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    with serving(Behaviour("error" if mode == "error" else "hang")) as url, client_for(shop) as client:
        use_openai(shop, f"http://127.0.0.1:{free_port()}/v1" if mode == "refused" else url)
        body, took = ask(client)
    trace = body["trace"]
    assert trace["fallback_reason"] == reason
    assert trace["backend"] == "extractive"
    assert "Standard shipping takes 5 business days" in body["reply"]["text"]  # the cited passage
    assert took < 10  # a hung server costs the 1 s timeout, not the customer's patience
    with Session(shop.engine) as session:
        customer = session.get(Message, body["message_id"])
    assert customer is not None and customer.status == "answered"


def test_garbage_mid_stream_resets_the_socket_and_the_extractive_answer_follows(shop) -> None:  # type: ignore[no-untyped-def]
    with serving(Behaviour("garbage")) as url, client_for(shop) as client, \
            client.websocket_connect("/ws/chat/shop") as ws:
        use_openai(shop, url)
        ws.send_json({"type": "message", "id": "g1", "text": QUESTION})
        frames = [ws.receive_json()]
        while frames[-1]["type"] != "final":
            frames.append(ws.receive_json())
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "ack" and "reset" in kinds, kinds
    after_reset = frames[kinds.index("reset") + 1:]
    streamed = "".join(f["text"] for f in after_reset if f["type"] == "chunk")
    assert streamed.strip() == frames[-1]["text"] and "Standard shipping" in streamed
    with Session(shop.engine) as session:
        reply = session.exec(select(Message).where(Message.reply_to == frames[0]["message_id"])).one()
    assert reply.trace["fallback_reason"] == "openai failed: GenerationUnavailable"


@pytest.fixture()
def postgres_shop(postgres_url: str, tmp_path: Path) -> Iterator[Any]:
    """The shop bot on a fresh PostgreSQL database (fake embedder, no re-ranker)."""
    from knowledge.config import KnowledgeSettings
    from server.context import Services
    from server.seed import create_bot
    from server.tables import Tenant
    from tests.conftest import make_settings
    from tests.fakes import HashEmbedder

    settings = make_settings(tmp_path / "data", knowledge=KnowledgeSettings(reranker="none"))
    settings = settings.model_copy(update={"database_url": postgres_url})
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


def terminate_connections(database: str) -> int:
    """Kill every server process serving `database`, as a PostgreSQL restart would; returns how many."""
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return len(connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database},
            ).all())
    finally:
        admin.dispose()


def test_killed_database_connections_do_not_fail_the_next_turn(postgres_shop) -> None:  # type: ignore[no-untyped-def]
    """Asserted: after every pooled connection is terminated server-side mid-conversation, the next
    turn of the same conversation answers 200 (pool_pre_ping replaces the dead connections) and both
    turns are stored. Without pre-ping the first checkout after the kill raises OperationalError."""
    engine = postgres_shop.engine
    assert engine.pool._pre_ping is True
    with client_for(postgres_shop) as client:
        first = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
        assert first.status_code == 200
        killed = terminate_connections(engine.url.database)
        body = {"text": "And express shipping?", "conversation_id": first.json()["conversation_id"]}
        second = client.post("/api/v1/bots/shop/messages", json=body)
    assert killed >= 1
    assert second.status_code == 200, second.text
    with Session(engine) as session:
        rows = session.exec(
            select(Message).where(Message.conversation_id == first.json()["conversation_id"])
        ).all()
    assert sorted(m.role for m in rows) == ["bot", "bot", "customer", "customer"]
    assert all(m.status == "answered" for m in rows if m.role == "customer")


def frames_until_final(ws: Any, limit: float = 30.0) -> list[dict]:
    """Frames up to the final (or error) one, read in a thread: a socket that hangs fails the test."""
    frames: list[dict] = []

    def read() -> None:
        frames.append(ws.receive_json())
        while frames[-1]["type"] not in ("final", "error"):
            frames.append(ws.receive_json())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(limit)
    assert not reader.is_alive(), f"the socket hung after {[f['type'] for f in frames]}"
    return frames


def test_killed_database_connections_mid_reply_keep_the_socket_answering(postgres_shop) -> None:  # type: ignore[no-untyped-def]
    """Asserted: the server's PostgreSQL connections are terminated while a reply streams (between the
    stored message and the stored reply) and again before the next message on the same socket; both
    turns end with a final frame within seconds, and every message and reply is stored."""
    engine = postgres_shop.engine
    settings = GenerationSettings(backend="openai", timeout_seconds=5.0, retries=0)
    with serving(Behaviour(delay=0.05, max_words=30)) as url, client_for(postgres_shop) as client, \
            client.websocket_connect("/ws/chat/shop") as ws:
        runtime = postgres_shop.runtimes.get("shop")
        runtime.generator = OpenAIGenerator(settings.model_copy(update={"openai_base_url": url}))
        ws.send_json({"type": "hello"})
        conversation_id = ws.receive_json()["conversation_id"]
        ws.send_json({"type": "message", "id": "k1", "text": QUESTION})
        ack, chunk = ws.receive_json(), ws.receive_json()
        assert ack["type"] == "ack" and chunk["type"] == "chunk", (ack, chunk)
        killed_mid_reply = terminate_connections(engine.url.database)
        first = [ack, chunk, *frames_until_final(ws)]
        killed_between = terminate_connections(engine.url.database)
        ws.send_json({"type": "message", "id": "k2", "text": "And express shipping?"})
        second = frames_until_final(ws)
    assert killed_mid_reply >= 1 and killed_between >= 1
    assert first[-1]["type"] == "final" and "5 business days" in first[-1]["text"], first[-1]
    assert second[0]["type"] == "ack" and second[-1]["type"] == "final", second
    with Session(engine) as session:
        rows = session.exec(select(Message).where(Message.conversation_id == conversation_id)).all()
    customers = {m.client_id: m for m in rows if m.role == "customer"}
    assert set(customers) == {"k1", "k2"} and all(m.status == "answered" for m in customers.values())
    replies = {m.reply_to: m for m in rows if m.role == "bot"}
    assert replies[customers["k1"].id].text == first[-1]["text"]
    assert replies[customers["k2"].id].text == second[-1]["text"]


def test_a_database_down_when_a_message_arrives_says_it_was_not_saved(
    shop, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    """Asserted: with the database unreachable, the socket answers `unavailable` (never "your message is
    saved"), stays open, and the re-send with the same id is answered once the database is back."""
    from sqlalchemy.exc import OperationalError

    from server import store

    real_receive = store.receive

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))

    with client_for(shop) as client, client.websocket_connect("/ws/chat/shop") as ws:
        monkeypatch.setattr(store, "receive", down)
        ws.send_json({"type": "message", "id": "d1", "text": QUESTION})
        refused = frames_until_final(ws)
        monkeypatch.setattr(store, "receive", real_receive)
        ws.send_json({"type": "message", "id": "d1", "text": QUESTION})
        answered = frames_until_final(ws)
    assert refused == [{"type": "error", "code": "unavailable", "message": UNAVAILABLE, "reply_to": "d1"}]
    assert answered[0]["type"] == "ack" and answered[-1]["type"] == "final"
    with Session(shop.engine) as session:
        customers = session.exec(select(Message).where(Message.role == "customer")).all()
    assert [(m.client_id, m.status) for m in customers] == [("d1", "answered")]


def _redis_or_skip() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at 127.0.0.1 not reachable: {exc}")
    return client


def kill_my_pubsub_connections(client: Any) -> int:
    """CLIENT KILL the pattern-subscribed connections of this process only (other sessions share Redis)."""
    mine = {f"127.0.0.1:{c.laddr.port}" for c in psutil.Process().net_connections("tcp")
            if c.raddr and c.raddr.port == 6379}
    victims = [c for c in client.client_list() if c["addr"] in mine and int(c.get("psub", 0)) > 0]
    for victim in victims:
        client.client_kill_filter(_id=victim["id"])
    return len(victims)


def test_a_killed_redis_listener_reconnects_and_delivery_resumes(caplog: pytest.LogCaptureFixture) -> None:
    from server.redis_hub import RedisHub

    admin = _redis_or_skip()
    conversation = f"c_{uuid.uuid4().hex}"

    async def scenario() -> tuple[int, dict, dict]:
        worker_a, worker_b = RedisHub(REDIS_URL, retry_seconds=0.2), RedisHub(REDIS_URL, retry_seconds=0.2)
        await worker_a.start()
        await worker_b.start()
        try:
            queue = worker_a.subscribe(conversation)
            await asyncio.wait_for(worker_a.connected.wait(), 5)
            worker_b.publish(conversation, {"type": "agent_message", "text": "before"})
            before = await asyncio.wait_for(queue.get(), 5)
            killed = await asyncio.to_thread(kill_my_pubsub_connections, admin)
            deadline = time.monotonic() + 10
            while worker_a.connected.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.wait_for(worker_a.connected.wait(), 10)
            await asyncio.sleep(0.2)  # the pattern subscription is confirmed just before `connected`
            worker_b.publish(conversation, {"type": "agent_message", "text": "after"})
            after = await asyncio.wait_for(queue.get(), 5)
            return killed, before, after
        finally:
            await worker_a.stop()
            await worker_b.stop()

    with caplog.at_level(logging.WARNING, logger="server.redis_hub"):
        killed, before, after = asyncio.run(scenario())
    assert killed >= 1
    assert before["text"] == "before" and after["text"] == "after"
    assert "redis listener lost" in caplog.text


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 1 MiB tmpfs when this process may mount one (root), else None (the test simulates ENOSPC)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        yield None
        return
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a filler file until the disk is full; returns it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_fails_the_document_clearly_and_loses_nothing_else(
    shop_services, tmp_path: Path, tiny_disk: Path | None, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    services = shop_services
    indexes = services.settings.data_dir / "indexes"
    if tiny_disk is not None:  # the bots' indexes live on the tiny disk; the database does not
        indexes.symlink_to(tiny_disk, target_is_directory=True)
    assert add_document(services, tmp_path, "shipping.md", SHIPPING).ok
    if tiny_disk is not None:
        filler = fill(tiny_disk)
    else:
        from knowledge import vector_store

        def no_space(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(vector_store.faiss, "write_index", no_space)
    result = add_document(services, tmp_path, "returns.md", "# Returns\n\n" + "Returns are free within 30 days. " * 400)
    assert not result.ok and result.status == "failed"
    assert "no space left on device" in (result.error or "").lower(), result.error
    with Session(services.engine) as session:
        docs = {d.slug: d for d in session.exec(select(Document)).all()}
    assert docs["returns"].status == "failed" and "no space left" in docs["returns"].error.lower()
    assert docs["shipping"].status == "ready"
    hits = services.runtimes.knowledge("shop").search(QUESTION, 3).hits
    assert hits and "Standard shipping" in hits[0].chunk.text  # the earlier document still answers
    assert all(h.chunk.document_id != docs["returns"].id for h in hits)
    if tiny_disk is not None:
        filler.unlink()
        monkeypatch.undo()
        again = add_document(services, tmp_path, "returns.md", "# Returns\n\nReturns are free within 30 days.")
        assert again.ok, again.error  # space back: the same upload goes through

"""Several workers: an agent's reply posted to worker B reaches the customer's socket on worker A via Redis.

Uses the real Redis at 127.0.0.1:6379 (database 15), as the scale path does in production.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from fastapi.testclient import TestClient

from server.app import create_app
from server.redis_hub import RedisHub
from tests.conftest import console_auth
from tests.server.test_handoff import queued_conversation

REDIS_URL = "redis://127.0.0.1:6379/15"
DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture(scope="module", autouse=True)
def needs_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not running at 127.0.0.1:6379 ({exc}); the multi-worker path needs it")


def wait_connected(app) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while not app.state.hub.connected.is_set():
        assert time.monotonic() < deadline, "the Redis listener never connected"
        time.sleep(0.02)


def test_agent_reply_crosses_workers(demo_services) -> None:  # type: ignore[no-untyped-def]
    settings = demo_services.settings.model_copy(update={"redis_url": REDIS_URL})
    worker_a, worker_b = create_app(settings, demo_services), create_app(settings, demo_services)
    seeded = demo_services.seeded
    auth = console_auth(demo_services, seeded.admin_email)
    with TestClient(worker_a) as a, TestClient(worker_b) as b:
        assert isinstance(worker_a.state.hub, RedisHub)
        wait_connected(worker_a)
        with a.websocket_connect("/ws/chat/demo") as ws:
            conversation_id = queued_conversation(ws)
            posted = b.post(
                f"/api/v1/conversations/{conversation_id}/agent-messages", json={"text": "Hi from B"}, auth=auth
            )
            assert posted.status_code == 200, posted.text
            live = ws.receive_json()
    assert live == {"type": "agent_message", "message_id": posted.json()["message"]["id"], "text": "Hi from B"}


def test_redis_down_degrades_to_local_delivery() -> None:
    async def scenario() -> dict:  # type: ignore[type-arg]
        hub = RedisHub(DOWN_URL, retry_seconds=0.05)
        await hub.start()
        try:
            queue = hub.subscribe("c1")
            assert hub.publish("c1", {"type": "agent_message", "text": "still here"}) == 1
            event = await asyncio.wait_for(queue.get(), timeout=5)
            await asyncio.sleep(0.2)  # the listener keeps retrying without crashing
            assert hub._listener is not None and not hub._listener.done()
            return event
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == {"type": "agent_message", "text": "still here"}


def test_two_hubs_deliver_each_event_once() -> None:
    async def scenario() -> list:  # type: ignore[type-arg]
        a, b = RedisHub(REDIS_URL), RedisHub(REDIS_URL)
        await a.start()
        await b.start()
        try:
            await asyncio.wait_for(a.connected.wait(), 5)
            await asyncio.wait_for(b.connected.wait(), 5)
            on_a, on_b = a.subscribe("c2"), b.subscribe("c2")
            b.publish("c2", {"n": 1})
            got = [await asyncio.wait_for(on_a.get(), 5), await asyncio.wait_for(on_b.get(), 5)]
            await asyncio.sleep(0.2)
            assert on_a.empty() and on_b.empty()  # once each, not twice on the publisher
            return got
        finally:
            await a.stop()
            await b.stop()

    assert asyncio.run(scenario()) == [{"n": 1}, {"n": 1}]

"""Two real server processes on PostgreSQL and Redis: a customer on worker A hears an agent who posts to worker B."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import redis
import websockets

from tests.conftest import SessionAuth
from tests.e2e.conftest import console_login, running_server, server_log

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture()
def postgres_db(postgres_url: str) -> str:
    """A fresh PostgreSQL database (tests/conftest.py), once Redis is known to answer too."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"the multi-worker path needs Redis at 127.0.0.1: {exc}")
    return postgres_url


async def customer_hears_agent(worker_a: str, worker_b: str, auth: SessionAuth) -> tuple[dict, dict]:
    ws_url = worker_a.replace("http", "ws") + "/ws/chat/demo"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        ready = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "message", "id": "m1", "text": "human please"}))
        while (frame := json.loads(await ws.recv()))["type"] != "final":
            pass
        assert frame["handoff"] is True, frame
        async with httpx.AsyncClient(base_url=worker_b, auth=auth) as b:
            posted = await b.post(
                f"/api/v1/conversations/{ready['conversation_id']}/agent-messages", json={"text": "Ana on B"}
            )
        assert posted.status_code == 200, posted.text
        live = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        return live, posted.json()


def test_agent_reply_reaches_a_socket_on_another_worker(tmp_path, postgres_db) -> None:  # type: ignore[no-untyped-def]
    env = {"FRONTDESK_DATABASE_URL": postgres_db, "FRONTDESK_REDIS_URL": REDIS_URL,
           "FRONTDESK_INTENT_METHOD": "frozen"}  # intents are not under test: seed in seconds
    with running_server(tmp_path, **env) as worker_a:  # the first worker seeds the empty database
        found = re.search(r"Console login \(shown once\): (\S+) / (\S+)", server_log(tmp_path, worker_a))
        assert found, "the first worker did not print the demo login"
        auth = console_login(worker_a, found.group(1), found.group(2))  # signed in on A, the session works on B
        with running_server(tmp_path, **env) as worker_b:
            live, posted = asyncio.run(customer_hears_agent(worker_a, worker_b, auth))
    assert live == {"type": "agent_message", "message_id": posted["message"]["id"], "text": "Ana on B"}

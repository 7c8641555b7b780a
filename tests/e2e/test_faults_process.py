"""Faults with real `frontdesk serve` processes: a worker killed (SIGKILL) while it streams a reply.

The customer's message was acknowledged, so it is stored; the reply never was. The customer
reconnects to another worker (same database) with `hello` + `conversation_id`, finds the message in
the history without an answer, re-sends it with its original id, and gets the full answer, once.
The second worker runs with FRONTDESK_REDIS_URL pointing at a closed port: it still starts and
answers, delivering live events to its own sockets only, and says so in its log.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy import create_engine, text

from bench.fake_openai import Behaviour, free_port, serving
from tests.e2e.conftest import running_server, server_log
from tests.e2e.test_graceful_shutdown import server_process

pytestmark = pytest.mark.slow
QUESTION = "How long does standard shipping take?"


async def killed_mid_stream(base: str) -> dict[str, Any]:
    """Start a turn, see it stream, SIGKILL the worker; returns the conversation and the ack."""
    server = server_process(base)
    async with websockets.connect(base.replace("http", "ws") + "/ws/chat/demo") as ws:
        await ws.send(json.dumps({"type": "hello"}))
        conversation_id = json.loads(await ws.recv())["conversation_id"]
        await ws.send(json.dumps({"type": "message", "id": "k1", "text": QUESTION}))
        ack = json.loads(await ws.recv())
        chunk = json.loads(await ws.recv())
        assert ack["type"] == "ack" and chunk["type"] == "chunk", (ack, chunk)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    return {"conversation_id": conversation_id, "ack": ack}


async def reconnect_and_resend(base: str, conversation_id: str) -> tuple[dict, list[dict]]:
    """hello with the conversation id, then re-send the unanswered message with its original id."""
    async with websockets.connect(base.replace("http", "ws") + "/ws/chat/demo") as ws:
        await ws.send(json.dumps({"type": "hello", "conversation_id": conversation_id}))
        ready = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "message", "id": "k1", "text": QUESTION}))
        frames = [json.loads(await ws.recv())]
        while frames[-1]["type"] not in ("final", "error"):
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
    return ready, frames


def test_a_worker_killed_mid_reply_loses_nothing(tmp_path: Path) -> None:
    env = {"FRONTDESK_GENERATION__BACKEND": "openai", "FRONTDESK_GENERATION__RETRIES": "0",
           "FRONTDESK_INTENT_METHOD": "frozen"}  # intents are not under test: seed in seconds
    with serving(Behaviour(delay=0.2, max_words=30)) as llm:
        env["FRONTDESK_GENERATION__OPENAI_BASE_URL"] = llm
        with running_server(tmp_path, **env) as worker_a:
            killed = asyncio.run(killed_mid_stream(worker_a))
        env["FRONTDESK_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
        with running_server(tmp_path, **env) as worker_b:
            ready, frames = asyncio.run(reconnect_and_resend(worker_b, killed["conversation_id"]))
            log_b = server_log(tmp_path, worker_b)
    message_id = killed["ack"]["message_id"]
    history = {m["id"]: m for m in ready["history"]}
    assert history[message_id]["text"] == QUESTION  # stored before the worker died
    assert not any(m["role"] == "bot" for m in ready["history"])  # its reply never was
    assert frames[0] == {**killed["ack"], "type": "ack"}  # the same stored message, not a new one
    final = frames[-1]
    assert final["type"] == "final" and "[1]" in final["text"] and final["fallback"] is False
    engine = create_engine(f"sqlite:///{tmp_path / 'frontdesk.db'}")
    with engine.connect() as connection:
        customers = connection.execute(text("SELECT id, status FROM message WHERE conversation_id = :c AND "
                                            "role = 'customer'"), {"c": killed["conversation_id"]}).all()
        replies = connection.execute(text("SELECT text FROM message WHERE reply_to = :m"), {"m": message_id}).all()
    engine.dispose()
    assert [(c.id, c.status) for c in customers] == [(message_id, "answered")]
    assert [r.text for r in replies] == [final["text"]]
    assert "redis listener lost" in log_b  # degraded to this worker's own sockets, and said so

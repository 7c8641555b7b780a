"""SIGTERM on a real `frontdesk serve`: sockets are told `closing`, the reply in progress finishes, exit 0.

The bot answers through the `openai` backend pointed at bench/fake_openai.py streaming one word
every 0.1 s, so a reply is still streaming when the signal arrives.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets
from sqlalchemy import create_engine, text

from bench.fake_openai import Behaviour, serving
from tests.e2e.conftest import running_server, server_log

pytestmark = pytest.mark.slow
DRAIN_SECONDS = 30


def server_process(base: str) -> psutil.Process:
    """The `frontdesk serve` child of this test process that listens on base's port."""
    port = base.rsplit(":", 1)[1]
    for child in psutil.Process().children(recursive=True):
        if "serve" in child.cmdline() and port in child.cmdline():
            return child
    raise AssertionError(f"no server process for {base}")


async def frames_until_closed(ws: Any, timeout: float = 40) -> tuple[list[dict], int | None]:
    """Every frame until the server closes the socket, and the close code."""
    frames: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                frames.append(json.loads(await ws.recv()))
    except websockets.ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


async def scenario(base: str, server: psutil.Process) -> dict[str, Any]:
    url = base.replace("http", "ws") + "/ws/chat/demo"
    async with websockets.connect(url) as busy, websockets.connect(url) as idle:
        await busy.send(json.dumps({"type": "hello"}))
        conversation_id = json.loads(await busy.recv())["conversation_id"]
        await idle.send(json.dumps({"type": "hello"}))
        await idle.recv()
        await busy.send(json.dumps({"type": "message", "id": "m1", "text": "How long does standard shipping take?"}))
        ack = json.loads(await busy.recv())
        first = json.loads(await busy.recv())
        assert first["type"] == "chunk", first  # the reply is streaming now
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"{base}/health")).status_code
        async with websockets.connect(url) as late:
            late_frames, late_code = await frames_until_closed(late, 10)
        idle_frames, idle_code = await frames_until_closed(idle)
        busy_frames, busy_code = await frames_until_closed(busy)
        closed_after = time.monotonic() - signalled
    return {
        "conversation_id": conversation_id, "ack": ack, "busy": [first, *busy_frames], "busy_code": busy_code,
        "idle": idle_frames, "idle_code": idle_code, "late": late_frames, "late_code": late_code,
        "health": health, "closed_after": closed_after,
    }


def test_sigterm_drains_the_sockets_and_exits_0(tmp_path: Path) -> None:
    env = {
        "FRONTDESK_GENERATION__BACKEND": "openai",
        "FRONTDESK_GENERATION__RETRIES": "0",
        "FRONTDESK_RATE_LIMITS__DRAIN_SECONDS": str(DRAIN_SECONDS),
        "FRONTDESK_INTENT_METHOD": "frozen",  # intents are not under test: seed in seconds
    }
    with serving(Behaviour(delay=0.1, max_words=30)) as llm:
        env["FRONTDESK_GENERATION__OPENAI_BASE_URL"] = llm
        with running_server(tmp_path, **env) as base:
            server = server_process(base)
            result = asyncio.run(scenario(base, server))
            started = time.monotonic()
            code = server.wait(timeout=DRAIN_SECONDS + 15)
            exited_after = result["closed_after"] + time.monotonic() - started
            log = server_log(tmp_path, base)
    assert code == 0, log[-3000:]
    assert exited_after < DRAIN_SECONDS + 10
    assert "draining: 2 sockets" in log and "drained in" in log
    assert result["health"] == 503
    assert result["late"] == [{"type": "closing"}] and result["late_code"] == 1012
    assert result["idle"] == [{"type": "closing"}] and result["idle_code"] == 1012
    kinds = [f["type"] for f in result["busy"]]
    assert "closing" in kinds and kinds[-1] == "final" and result["busy_code"] == 1012, kinds
    final = result["busy"][-1]
    streamed = "".join(f["text"] for f in result["busy"] if f["type"] == "chunk")
    assert final["fallback"] is False and streamed.strip() == final["text"] and "[1]" in final["text"]
    engine = create_engine(f"sqlite:///{tmp_path / 'frontdesk.db'}")
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT text, trace FROM message WHERE reply_to = :id"), {"id": result["ack"]["message_id"]}
        ).one()
    engine.dispose()
    assert stored.text == final["text"]
    assert json.loads(stored.trace)["backend"] == "openai"  # the model's answer, not a fallback

"""End to end: the real server process answers over a real websocket with a cited answer."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

pytestmark = pytest.mark.slow


async def ask(base: str, question: str) -> tuple[list[dict], dict]:
    url = base.replace("http://", "ws://") + "/ws/chat/demo"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello"}))
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(json.dumps({"type": "message", "id": "e2e-1", "text": question}))
        frames = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
            frames.append(frame)
            if frame["type"] in ("final", "error"):
                return frames, frame


@pytest.mark.parametrize(
    ("question", "phrase", "document"),
    [
        ("How long does standard shipping take?", "3-5 business days", "Shipping times"),
        ("How many days do I have to return an item?", "30 days", "Returns policy"),
        ("Can I pay with PayPal?", "PayPal", None),
    ],
)
def test_demo_bot_answers_with_sources(live_server: str, question: str, phrase: str, document: str | None) -> None:
    frames, final = asyncio.run(ask(live_server, question))
    assert [f["type"] for f in frames][0] == "ack"
    assert "chunk" in [f["type"] for f in frames]
    assert final["type"] == "final", final
    assert phrase in final["text"]
    assert final["citations"], final
    if document:
        assert final["citations"][0]["document"] == document

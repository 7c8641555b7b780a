"""The openai backend's busy and timeout outcomes, end to end over real HTTP, as for the local engine.

An OpenAI-compatible server that answers 429/503 is busy (not failed): the turn gets the extractive
answer with `openai busy: GenerationBusy`, or, when the passages give none, the server's own `busy`
answer with the upstream's Retry-After; the message is kept and the customer's re-send is answered
and ends `answered`. A server that hangs past the timeout is `openai timeout: GenerationTimeout`.
The model server is bench/fake_openai.py, served by uvicorn on loopback, behind a switch that
answers 429 while it is on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from bench.fake_openai import Behaviour, build_app, free_port, serving
from bot.generation.config import GenerationSettings
from bot.generation.extractive import ExtractiveGenerator
from bot.generation.openai_compat import OpenAIGenerator
from bot.stages import GenerateStage
from server.ingest import ingest_file
from server.ratelimit import RateLimitSettings
from server.tables import Message

SHIPPING = "# Shipping\n\nStandard shipping takes 5 business days. Express shipping takes 1-2 business days.\n"
QUESTION = "How long does standard shipping take?"


@dataclass
class RateLimited:
    """While `on`, every completion request is answered 429 with Retry-After `wait`."""

    on: bool = True
    wait: str = "9"
    refused: int = 0


@pytest.fixture()
def upstream() -> Iterator[tuple[str, RateLimited]]:
    """bench/fake_openai.py behind a 429 switch, on a real loopback port; yields its base URL and the switch."""
    switch = RateLimited()
    inner = build_app(Behaviour(max_words=30))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and switch.on:
            switch.refused += 1
            body = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
            await JSONResponse(body, status_code=429, headers={"Retry-After": switch.wait})(scope, receive, send)
            return
        await inner(scope, receive, send)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the fake model server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", switch
    server.should_exit = True
    thread.join(5)


@pytest.fixture()
def shop(shop_services: Any, tmp_path: Path) -> Any:
    """The shop bot with one shipping page indexed."""
    (tmp_path / "shipping.md").write_text(SHIPPING)
    assert ingest_file(shop_services.runtimes, "shop", tmp_path / "shipping.md").ok
    yield shop_services
    generator = shop_services.runtimes.get("shop").generator
    if isinstance(generator, OpenAIGenerator):
        generator.close()


def use_openai(services: Any, url: str, retries: int = 0) -> OpenAIGenerator:
    """Point the shop bot's generator at an OpenAI-compatible URL (1 s timeout)."""
    settings = GenerationSettings(backend="openai", openai_base_url=url, timeout_seconds=1.0, retries=retries)
    runtime = services.runtimes.get("shop")
    runtime.generator = OpenAIGenerator(settings)
    return runtime.generator


def client_for(services: Any) -> TestClient:
    from server.app import create_app

    settings = services.settings.model_copy(update={"rate_limits": RateLimitSettings(enabled=False)})
    return TestClient(create_app(settings, services))


def stored(services: Any, message_id: str) -> tuple[Message, list[Message]]:
    """The customer message and its replies, read fresh."""
    with Session(services.engine, expire_on_commit=False) as session:
        message = session.get(Message, message_id)
        replies = list(session.exec(select(Message).where(Message.reply_to == message_id)).all())
    assert message is not None
    return message, replies


def test_a_rate_limited_model_server_is_busy_and_the_turn_answers_extractively(shop, upstream) -> None:  # type: ignore[no-untyped-def]
    url, switch = upstream
    use_openai(shop, url, retries=2)  # Retry-After 9 s is longer than a turn waits: no retry
    with client_for(shop) as client:
        response = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trace"]["fallback_reason"] == "openai busy: GenerationBusy"
    assert body["trace"]["backend"] == "extractive"
    assert "Standard shipping takes 5 business days" in body["reply"]["text"]
    assert switch.refused == 1
    assert stored(shop, body["message_id"])[0].status == "answered"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("error", "openai busy: GenerationBusy"), ("hang", "openai timeout: GenerationTimeout")],
)
def test_an_overloaded_or_hung_model_server_is_not_counted_as_failed(shop, mode: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    """bench/fake_openai.py's `error` mode answers 503 overloaded; `hang` never answers (1 s timeout)."""
    with serving(Behaviour(mode)) as url, client_for(shop) as client:
        use_openai(shop, url)
        started = time.monotonic()
        response = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
        took = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["trace"]["fallback_reason"] == reason
    assert "Standard shipping takes 5 business days" in response.json()["reply"]["text"]
    assert took < 10


def test_with_no_extractive_answer_the_customer_gets_busy_and_the_re_send_is_answered(shop, upstream) -> None:  # type: ignore[no-untyped-def]
    url, switch = upstream
    use_openai(shop, url)
    runtime = shop.runtimes.get("shop")
    stage = next(s for s in runtime.pipeline.stages if isinstance(s, GenerateStage))
    stage.extractive = ExtractiveGenerator(runtime.knowledge.relevance, passages=0)  # finds nothing to quote
    with client_for(shop) as client, client.websocket_connect("/ws/chat/shop") as ws:
        rest = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
        ws.send_json({"type": "message", "id": "w-1", "text": QUESTION})
        ack, busy = ws.receive_json(), ws.receive_json()
        refused, _ = stored(shop, ack["message_id"])
        switch.on = False  # the model server has room again
        ws.send_json({"type": "message", "id": "w-1", "text": QUESTION})
        again = ws.receive_json()
        while (final := ws.receive_json())["type"] != "final":
            pass

    assert rest.status_code == 503 and rest.headers["retry-after"] == "9"  # the upstream's wait, not our 5 s
    assert rest.json()["error"]["code"] == "busy"
    assert busy["type"] == "error" and busy["code"] == "busy" and busy["retry_after"] == 9
    assert refused.status == "failed"
    assert (refused.trace["outcome"], refused.trace["busy_source"]) == ("busy", "generation")
    assert again["type"] == "ack" and again["message_id"] == ack["message_id"]
    answered, replies = stored(shop, ack["message_id"])
    assert len(replies) == 1 and replies[0].trace["backend"] == "openai" and final["text"] == replies[0].text
    assert answered.status == "answered" and answered.trace["refused"]["busy_source"] == "generation"
    with Session(shop.engine) as session:  # the REST message, never re-sent, keeps its busy outcome
        failed = session.exec(select(Message).where(Message.role == "customer", Message.status == "failed")).all()
    assert len(failed) == 1 and failed[0].trace["outcome"] == "busy"

"""Back-pressure from the batched local model, end to end: a real tiny model with one batch slot and no queue.

A turn the full model refuses gets the extractive answer from the same passages, its trace saying
`local busy` (not `failed`); when the passages give no extractive answer, the server answers `busy`
exactly as for a full wait queue, and the customer's message is kept for the retry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot.errors import GenerationBusy, GenerationUnavailable
from bot.generation.config import GenerationSettings
from bot.generation.extractive import ExtractiveGenerator
from bot.generation.local import LocalGenerator
from bot.stages import GenerateStage
from server.ingest import ingest_file
from server.ratelimit import RateLimitSettings
from server.tables import Message
from tests.generation.tiny_llm import build_tiny_llm

SHIPPING = "# Shipping\n\nStandard shipping takes 5 business days. Express shipping takes 1-2 business days.\n"
QUESTION = "How long does standard shipping take?"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-busy"))


@pytest.fixture()
def shop(shop_services: Any, model_dir: Path, tmp_path: Path) -> Iterator[tuple[Any, LocalGenerator]]:
    """The shop bot with a shipping page, answered by the tiny model with one batch slot and no queue."""
    (tmp_path / "shipping.md").write_text(SHIPPING)
    assert ingest_file(shop_services.runtimes, "shop", tmp_path / "shipping.md").ok
    settings = GenerationSettings(
        backend="local",
        model_path=str(model_dir),
        device="cpu",
        max_batch=1,
        max_queue=0,
        max_new_tokens=200,
        on_ungrounded="flag",  # keep the random model's answer so the trace shows who wrote it
    )
    generator = LocalGenerator(settings)
    runtime = shop_services.runtimes.get("shop")
    runtime.generator, runtime.generation = generator, settings
    yield shop_services, generator
    generator.close()


def client_for(services: Any) -> TestClient:
    from server.app import create_app

    settings = services.settings.model_copy(update={"rate_limits": RateLimitSettings(enabled=False)})
    return TestClient(create_app(settings, services))


def hold_the_only_slot(generator: LocalGenerator) -> Iterator[list[int]]:
    """Start a long request on the batcher and keep it in flight until the returned iterator is closed."""
    assert generator.batcher is not None
    stream = generator.batcher.tokens([6, 7, 8, 9], 4000, threading.Event())
    assert next(stream)
    assert generator.batcher.in_flight == 1
    return stream


def test_a_second_concurrent_turn_is_refused_by_the_model_and_answered_extractively(shop) -> None:  # type: ignore[no-untyped-def]
    services, generator = shop
    runtime = services.runtimes.get("shop")
    first_piece, release = threading.Event(), threading.Event()
    replies: dict[str, Any] = {}

    def holding_emit(piece: object) -> None:  # the first customer reads slowly: its request stays in the batch
        first_piece.set()
        assert release.wait(60), "the test never released the first turn"

    def first_turn() -> None:
        replies["first"] = runtime.answer(QUESTION, emit=holding_emit)

    thread = threading.Thread(target=first_turn, daemon=True)
    thread.start()
    assert first_piece.wait(60), "the first turn never streamed"
    assert generator.batcher is not None and generator.batcher.in_flight == 1
    streamed: list[str] = []
    second = runtime.answer(QUESTION, emit=streamed.append)
    release.set()
    thread.join(120)

    assert second.trace.fallback_reason == "local busy: GenerationBusy"
    assert (second.trace.backend, second.trace.model) == ("extractive", "extractive")
    assert second.text.startswith("Standard shipping takes 5 business days") and second.text.endswith("[1]")
    assert "".join(streamed).strip() == second.text and second.fallback is False
    assert second.trace.stages[-1].status == "ok"
    first = replies["first"]
    assert (first.trace.backend, first.trace.fallback_reason) == ("local", None)  # the model's own answer
    assert first.text and generator.batcher.in_flight == 0


def test_over_rest_a_busy_model_gives_the_extractive_answer_with_a_busy_trace(shop) -> None:  # type: ignore[no-untyped-def]
    services, generator = shop
    with client_for(services) as client:
        held = hold_the_only_slot(generator)
        try:
            response = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
        finally:
            held.close()
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["trace"]["fallback_reason"] == "local busy: GenerationBusy"
        assert body["trace"]["backend"] == "extractive"
        assert "Standard shipping takes 5 business days" in body["reply"]["text"]
        free = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION}).json()
    assert free["trace"]["backend"] == "local" and free["trace"]["fallback_reason"] is None


def test_with_no_extractive_answer_the_turn_gets_the_servers_busy_answer_and_is_kept(shop) -> None:  # type: ignore[no-untyped-def]
    services, generator = shop
    runtime = services.runtimes.get("shop")
    stage = next(s for s in runtime.pipeline.stages if isinstance(s, GenerateStage))
    stage.extractive = ExtractiveGenerator(runtime.knowledge.relevance, passages=0)  # finds nothing to quote
    with client_for(services) as client, client.websocket_connect("/ws/chat/shop") as ws:
        held = hold_the_only_slot(generator)
        try:
            refused = client.post("/api/v1/bots/shop/messages", json={"text": QUESTION})
            ws.send_json({"type": "message", "id": "w-1", "text": QUESTION})
            ack, frame = ws.receive_json(), ws.receive_json()
        finally:
            held.close()
        ws.send_json({"type": "message", "id": "w-1", "text": QUESTION})  # the widget retries once the model is free
        again = ws.receive_json()
        while (final := ws.receive_json())["type"] != "final":
            pass
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "busy" and int(refused.headers["retry-after"]) >= 1
    assert ack["type"] == "ack"
    assert frame["type"] == "error" and frame["code"] == "busy" and frame["retry_after"] >= 1
    assert "saved" in frame["message"]
    assert again["type"] == "ack" and again["message_id"] == ack["message_id"]
    with Session(services.engine) as session:
        kept = session.get(Message, ack["message_id"])
        reply = session.exec(select(Message).where(Message.reply_to == ack["message_id"])).one()
    # stored once, refused, answered on retry: it ends "answered", the refusal kept under trace.refused
    assert kept is not None and kept.status == "answered"
    assert (kept.trace["refused"]["outcome"], kept.trace["refused"]["busy_source"]) == ("busy", "generation")
    assert reply.trace["backend"] == "local" and final["text"] == reply.text
    with Session(services.engine) as session:
        refused_ones = session.exec(select(Message).where(Message.status == "failed")).all()  # REST: never re-sent
    assert len(refused_ones) == 1
    assert (refused_ones[0].trace["outcome"], refused_ones[0].trace["busy_source"]) == ("busy", "generation")


def test_busy_is_an_unavailable_backend_with_its_own_outcome() -> None:
    from bot.errors import GenerationTimeout, generation_outcome
    from bot.generation import batcher
    from bot.stages import fallback_reason

    assert batcher.GenerationBusy is GenerationBusy  # the old import path still works
    assert issubclass(GenerationBusy, GenerationUnavailable)
    cases = {
        GenerationBusy(3): ("busy", "local busy: GenerationBusy"),
        GenerationTimeout("slow"): ("timeout", "local timeout: GenerationTimeout"),
        GenerationUnavailable("down"): ("down", "local failed: GenerationUnavailable"),
        RuntimeError("oom"): ("error", "local failed: RuntimeError"),
    }
    for exc, (outcome, reason) in cases.items():
        assert (generation_outcome(exc), fallback_reason("local", exc)) == (outcome, reason)

"""Back-pressure: when every pipeline slot is taken and the wait queue is full, a turn is refused as busy.

The customer's message is stored first and keeps the busy outcome; re-sending it later answers it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from server.admission import Admission, Busy
from server.tables import Message


def test_admission_bounds_the_wait_queue() -> None:
    async def scenario() -> tuple[int, int, int]:
        limiter = anyio.CapacityLimiter(1)
        admission = Admission(limiter, max_queued=1, retry_after=3)
        gate = asyncio.Event()

        async def blocked() -> None:
            async with limiter:
                await gate.wait()

        running, waiting = admission.start(blocked), admission.start(blocked)
        await asyncio.sleep(0)
        with pytest.raises(Busy) as refused:
            admission.start(blocked)
        assert refused.value.retry_after == 3 and refused.value.status == 503
        counts = (admission.in_flight, admission.waiting)
        gate.set()
        await asyncio.gather(running, waiting)
        after = admission.in_flight
        await admission.start(asyncio.sleep, 0)  # room again
        return (*counts, after)

    assert asyncio.run(scenario()) == (2, 1, 0)


def test_a_cancelled_caller_keeps_its_slot_counted_until_the_job_ends() -> None:
    async def scenario() -> list[int]:
        admission = Admission(anyio.CapacityLimiter(1), max_queued=0)
        gate = asyncio.Event()
        job = admission.start(gate.wait)
        seen = [admission.in_flight]
        gate.set()
        await job
        await asyncio.sleep(0)  # done callbacks run on the next loop pass
        return [*seen, admission.in_flight]

    assert asyncio.run(scenario()) == [1, 0]


@pytest.fixture()
def one_slot(shop_services) -> Iterator[tuple[Any, threading.Event, threading.Event]]:  # type: ignore[no-untyped-def]
    """One pipeline slot and no wait queue; the first turn holds its slot until `release` is set."""
    update = {"max_queued_turns": 0, "busy_retry_after_seconds": 7}
    limits = shop_services.settings.rate_limits.model_copy(update=update)
    shop_services.settings = shop_services.settings.model_copy(
        update={"max_concurrent_turns": 1, "rate_limits": limits}
    )
    runtime = shop_services.runtimes.get("shop")
    original = runtime.answer
    entered, release = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(30), "the test never released the turn"
        return original(*args, **kwargs)

    runtime.answer = slow  # type: ignore[method-assign]
    yield shop_services, entered, release
    release.set()
    runtime.answer = original  # type: ignore[method-assign]


def client_for(services: Any) -> TestClient:
    from server.app import create_app

    return TestClient(create_app(services.settings, services))


def test_a_busy_turn_gets_a_busy_frame_and_the_message_is_kept(one_slot) -> None:  # type: ignore[no-untyped-def]
    services, entered, release = one_slot
    with client_for(services) as client, client.websocket_connect("/ws/chat/shop") as first, \
            client.websocket_connect("/ws/chat/shop") as second:
        first.send_json({"type": "message", "id": "a", "text": "first question"})
        assert first.receive_json()["type"] == "ack"
        assert entered.wait(10)
        second.send_json({"type": "message", "id": "b", "text": "second question"})
        ack = second.receive_json()
        busy = second.receive_json()
        refused = kept_message(services, ack["message_id"])
        release.set()
        while first.receive_json()["type"] != "final":
            pass
        second.send_json({"type": "message", "id": "b", "text": "second question"})  # the widget retries
        assert second.receive_json()["message_id"] == ack["message_id"]
        while (frame := second.receive_json())["type"] != "final":
            pass
    assert ack["type"] == "ack"
    assert busy == {
        "type": "error", "code": "busy", "reply_to": "b", "retry_after": 7,
        "message": busy["message"],
    } and "saved" in busy["message"]
    assert frame["text"]
    with Session(services.engine) as session:
        customers = session.exec(select(Message).where(Message.text == "second question")).all()
        replies = session.exec(select(Message).where(Message.reply_to == ack["message_id"])).all()
    assert len(customers) == 1 and len(replies) == 1  # stored once, answered once after the retry
    assert refused.status == "failed" and refused.trace["outcome"] == "busy" and refused.trace["retry_after"] == 7
    answered = customers[0]
    assert answered.status == "answered" and "error" not in answered.trace  # not counted as a failed turn
    assert answered.trace["refused"]["outcome"] == "busy" and answered.trace["refused"]["retry_after"] == 7
    assert answered.trace["retried_at"]


def kept_message(services: Any, message_id: str) -> Message:
    """The stored customer message, read fresh."""
    with Session(services.engine) as session:
        message = session.get(Message, message_id)
    assert message is not None
    return message


def test_a_retried_busy_message_whose_turn_crashes_stays_failed(one_slot) -> None:  # type: ignore[no-untyped-def]
    """The re-sent message gets the apology of a failed turn and keeps `failed`, unlike a retry that is answered."""
    services, entered, release = one_slot
    runtime = services.runtimes.get("shop")
    with client_for(services) as client, client.websocket_connect("/ws/chat/shop") as first, \
            client.websocket_connect("/ws/chat/shop") as second:
        first.send_json({"type": "message", "id": "a", "text": "first question"})
        assert first.receive_json()["type"] == "ack"
        assert entered.wait(10)
        second.send_json({"type": "message", "id": "b", "text": "second question"})
        ack = second.receive_json()
        assert second.receive_json()["code"] == "busy"
        release.set()
        while first.receive_json()["type"] != "final":
            pass

        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("model exploded")

        runtime.answer = explode  # type: ignore[method-assign]
        second.send_json({"type": "message", "id": "b", "text": "second question"})
        assert second.receive_json()["message_id"] == ack["message_id"]
        while (frame := second.receive_json())["type"] != "final":
            pass
    assert frame["fallback"] is True and frame["text"]
    customer = kept_message(services, ack["message_id"])
    assert customer.status == "failed" and "model exploded" in customer.trace["error"]
    with Session(services.engine) as session:
        replies = session.exec(select(Message).where(Message.reply_to == ack["message_id"])).all()
    assert len(replies) == 1 and replies[0].trace["fallback_reason"].startswith("internal error")


def test_a_busy_rest_turn_gets_503_with_retry_after(one_slot) -> None:  # type: ignore[no-untyped-def]
    services, entered, release = one_slot
    with client_for(services) as client:
        results: dict[str, Any] = {}
        holder = threading.Thread(
            target=lambda: results.setdefault(
                "first", client.post("/api/v1/bots/shop/messages", json={"text": "first question"})
            )
        )
        holder.start()
        assert entered.wait(10)
        refused = client.post("/api/v1/bots/shop/messages", json={"text": "kept while busy"})
        release.set()
        holder.join(30)
    assert results["first"].status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "7"
    assert refused.json()["error"]["code"] == "busy"
    with Session(services.engine) as session:
        kept = session.exec(select(Message).where(Message.text == "kept while busy")).one()
    assert kept.status == "failed" and kept.trace["outcome"] == "busy"

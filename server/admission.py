"""Back-pressure for turns: a bounded wait for a pipeline slot, then a clear 'busy' answer.

ChatService runs at most max_concurrent_turns pipelines at once (an anyio CapacityLimiter). Without
a bound, every further turn would wait for a slot however long the queue grew. Admission counts
the turns in flight (running or waiting) and refuses a new one with Busy when max_queued_turns
already wait; the websocket answers an error frame `busy` with retry_after, REST a 503 with
Retry-After. The customer's message is stored before admission, and record_busy keeps the outcome
on it, so nothing is lost: the client re-sends it (same client id) later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.errors import GenerationBusy
from server import store
from server.ratelimit import RetryLater
from server.tables import Message

log = logging.getLogger(__name__)
T = TypeVar("T")


class Busy(RetryLater):
    """Every pipeline slot is taken and the wait queue is full: HTTP 503 / websocket error `busy`.

    Also raised when the generation engine is full (GenerationBusy) and the passages give no
    extractive answer to send instead: the customer gets the same answer either way.
    """

    def __init__(self, waiting: int, retry_after: float, source: str = "admission") -> None:
        load = f"{waiting} messages waiting" if source == "admission" else f"{waiting} answers being written"
        message = f"the assistant is busy ({load}); your message is saved, retry shortly"
        super().__init__(message, retry_after, "busy", 503)
        self.source = source  # "admission" (server wait queue) or "generation" (the model's batch)

    @classmethod
    def from_generation(cls, exc: GenerationBusy, retry_after: float) -> Busy:
        """The server's busy answer for a turn the generation engine refused."""
        return cls(exc.in_flight, max(retry_after, exc.retry_after), source="generation")


class Admission:
    """Admits a turn when a slot is free or fewer than max_queued turns wait; else raises Busy.

    Use from the event loop only (the counter is not locked).
    """

    def __init__(self, limiter: anyio.CapacityLimiter, max_queued: int, retry_after: float = 5.0) -> None:
        self.limiter = limiter
        self.max_queued = max_queued
        self.retry_after = retry_after
        self.in_flight = 0

    @property
    def waiting(self) -> int:
        """Turns admitted but not holding a slot."""
        return max(0, self.in_flight - int(self.limiter.total_tokens))

    def admit(self) -> None:
        """Count one more turn in flight, or raise Busy when the wait queue is full."""
        if self.in_flight >= int(self.limiter.total_tokens) + self.max_queued:
            raise Busy(self.waiting, self.retry_after)
        self.in_flight += 1

    def release(self, _: object = None) -> None:
        """A turn left (finished, failed or cancelled)."""
        self.in_flight -= 1

    def start(self, run: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Admit a turn and start run(*args, **kwargs) as a task; the count drops when the task ends.

        The count follows the task, not its caller: a cancelled caller leaves the worker thread
        running until it notices, and the slot it holds is still taken until then.
        """
        self.admit()
        try:
            job = asyncio.ensure_future(run(*args, **kwargs))
        except BaseException:
            self.release()
            raise
        job.add_done_callback(self.release)
        return job


def record_busy(engine: Engine, customer: Message, exc: Busy) -> None:
    """Keep the busy outcome on the stored customer message (status failed, trace says busy)."""
    busy = {
        "error": f"busy: {exc.message}",
        "outcome": "busy",
        "busy_source": exc.source,
        "retry_after": exc.retry_after,
    }
    with Session(engine) as session:
        trace = {**store.trace_of(session, customer.id), **busy}  # keep a voice message's audio, a channel address
        session.exec(  # type: ignore[call-overload]
            update(Message).where(col(Message.id) == customer.id).values(status="failed", trace=trace)
        )
        session.commit()
    log.warning("turn refused as busy for message %s", customer.id)

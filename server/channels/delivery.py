"""Outbound delivery: HTTP calls with retries and back-off, and at-most-once claims per reply.

A long reply goes out as several messages ("parts"). When a part fails, the delivery is marked
failed with a reason that starts "sent N of M parts; ", so the next claim (a redelivery of the
customer's message) resumes at part N + 1 instead of repeating what the customer already has.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from server.errors import FrontdeskError

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SendError(FrontdeskError):
    """A platform's send API refused a reply, or kept failing after the retries."""

    code = "channel_send_failed"
    status = 502

    def __init__(
        self, message: str, retryable: bool = False, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.http_status = http_status


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a send."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based): exponential with jitter."""
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_delay)
        if self.base_delay <= 0:
            return 0.0
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay) * (
            0.5 + random.random() / 2
        )


async def call(
    http: httpx.AsyncClient, method: str, url: str, *, policy: RetryPolicy, what: str, **kwargs: Any
) -> httpx.Response:
    """Send one HTTP request, retrying 5xx, 429 and transport errors with exponential back-off.

    Args:
        http: the client (tests inject one on an httpx.MockTransport).
        method: HTTP method.
        url: the URL; it may hold a token, so it is never logged.
        policy: attempts and delays.
        what: a short name for logs and errors, e.g. "telegram sendMessage".
        kwargs: passed to `httpx.AsyncClient.request` (json, headers, content, params).

    Returns:
        The first response that is neither a 5xx nor a 429.

    Raises:
        SendError: a 4xx answer, or still failing after the last attempt.
    """
    problem = ""
    for attempt in range(1, policy.attempts + 1):
        retry_after = None
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}"
        else:
            if response.status_code not in RETRY_STATUSES:
                if response.status_code >= 400:
                    raise SendError(
                        f"{what} answered HTTP {response.status_code}: {_short(response)}",
                        http_status=response.status_code,
                    )
                return response
            problem = f"HTTP {response.status_code}"
            retry_after = response.headers.get("retry-after")
        if attempt < policy.attempts:
            wait = policy.delay(attempt, retry_after)
            log.warning("%s failed (%s), retry %d in %.1fs", what, problem, attempt, wait)
            await asyncio.sleep(wait)
    raise SendError(f"{what} failed after {policy.attempts} attempts: {problem}", retryable=True)


def _short(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")


PROGRESS = re.compile(r"^sent (\d+) of (\d+) parts; ")


def progress_note(sent: int, total: int, error: str) -> str:
    """The failure reason to store: prefixed with the parts already sent when a reply has several."""
    return f"sent {sent} of {total} parts; {error}" if sent else error


def parts_sent(error: str | None) -> int:
    """The parts a failed delivery had already sent, read back from its stored reason."""
    match = PROGRESS.match(error or "")
    return int(match.group(1)) if match else 0


class Deliveries(Protocol):
    """At-most-once bookkeeping: a reply is sent only by whoever claims it first."""

    def claim(self, reply_id: str, channel_id: str) -> bool:
        """True when the caller may send this reply now (never sent, or an earlier try failed)."""

    def finish(self, reply_id: str, ok: bool, error: str | None = None) -> None:
        """Record the outcome of a claimed send."""

    def sent_parts(self, reply_id: str) -> int:
        """How many parts of a claimed reply an earlier, failed try already sent (0: none)."""


class MemoryDeliveries:
    """In-process bookkeeping (tests, single channel objects); the app uses the database."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.errors: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def claim(self, reply_id: str, channel_id: str) -> bool:
        """Claim unless already sending or sent."""
        with self._lock:
            if self.status.get(reply_id) in ("sending", "sent"):
                return False
            self.status[reply_id] = "sending"
            return True

    def finish(self, reply_id: str, ok: bool, error: str | None = None) -> None:
        """Mark sent or failed (a failed one may be claimed again)."""
        with self._lock:
            self.status[reply_id] = "sent" if ok else "failed"
            self.errors[reply_id] = error

    def sent_parts(self, reply_id: str) -> int:
        """Parts sent by the last failed try."""
        with self._lock:
            return parts_sent(self.errors.get(reply_id))

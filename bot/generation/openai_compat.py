"""The openai backend: any OpenAI-compatible chat server (vLLM, SGLang, TGI, llama.cpp, Ollama)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bot.errors import GenerationBusy, GenerationTimeout, GenerationUnavailable
from bot.generation.base import GenerationRequest
from bot.generation.config import GenerationSettings
from bot.generation.prompt import build_messages
from bot.pii import redact

log = logging.getLogger(__name__)
BUSY_STATUSES = (429, 503)  # rate limited or overloaded: full, not broken
TIMEOUT_STATUSES = (504,)  # a gateway in front of the model server gave up waiting for it
MAX_BACKOFF = 2.0  # seconds; a server asking for a longer wait is not retried inside the turn
MAX_RETRY_AFTER = 300.0  # seconds; an upstream Retry-After beyond this is not passed on to customers


class OpenAIGenerator:
    """Streams chat completions over server-sent events; retries only before the first token."""

    backend = "openai"

    def __init__(self, settings: GenerationSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.model = settings.openai_model
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        self.client = httpx.Client(
            base_url=settings.openai_base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds, connect=min(5.0, settings.timeout_seconds)),
            transport=transport,
        )
        self.in_flight = 0  # requests this process has open to the server, for the busy answer
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """POST /chat/completions with stream=true and yield the content deltas."""
        messages = build_messages(request, self.settings.history_turns)
        if self.settings.redact_pii:
            messages = [{**m, "content": redact(m["content"])} for m in messages]
        body = {
            "model": self.settings.openai_model,
            "messages": messages,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        for name in ("top_p", "top_k", "repetition_penalty"):  # top_k, repetition_penalty: vLLM/SGLang extensions
            value = getattr(self.settings, name)
            if value is not None:
                body[name] = value
        with self._counted():
            yield from self._attempts(body, request)

    def _attempts(self, body: dict[str, object], request: GenerationRequest) -> Iterator[str]:
        """Stream one completion, retrying before the first token with a short back-off.

        Raises:
            GenerationBusy: the server answered 429 or 503 (its Retry-After, when given, is kept).
            GenerationTimeout: nothing arrived within timeout_seconds, or a gateway answered 504.
            GenerationUnavailable: any other failure.
        """
        for attempt in range(self.settings.retries + 1):
            started = False
            try:
                with self.client.stream("POST", "/chat/completions", json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise self._refusal(response)
                    for piece in _deltas(response.iter_lines()):
                        if request.cancel.is_set():
                            return
                        started = True
                        yield piece
                return
            except (httpx.TransportError, GenerationUnavailable) as exc:
                delay = max(min(0.25 * 2**attempt, MAX_BACKOFF), _asked_wait(exc))
                if started or attempt == self.settings.retries or delay > MAX_BACKOFF:
                    raise _final(exc) from exc
                log.warning("openai backend attempt %d failed: %s", attempt + 1, exc)
                time.sleep(delay)

    @contextmanager
    def _counted(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _refusal(self, response: httpx.Response) -> GenerationUnavailable:
        """The error for an HTTP error answer: busy (429, 503), timeout (504), else unavailable."""
        status = response.status_code
        detail = _error_detail(response)
        message = f"server answered {status}" + (f": {detail}" if detail else "")
        if status in BUSY_STATUSES and "insufficient_quota" not in detail:  # a spent quota does not come back
            wait = retry_after(response.headers.get("retry-after"))
            others = max(self.in_flight - 1, 0)  # the refused request is not being answered
            return GenerationBusy(others, wait, f"{message} (busy; retry after {wait:g} s)")
        if status in TIMEOUT_STATUSES:
            return GenerationTimeout(message)
        return GenerationUnavailable(message)


def retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date); 0 when absent or unreadable.

    0 lets the server use its own busy retry_after; an answer above MAX_RETRY_AFTER is capped.
    """
    if not value:
        return 0.0
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, IndexError):
            return 0.0
    if seconds != seconds:  # NaN
        return 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _asked_wait(exc: BaseException) -> float:
    """How long the server asked us to wait before trying again (0 when it did not say)."""
    return exc.retry_after if isinstance(exc, GenerationBusy) else 0.0


def _final(exc: BaseException) -> GenerationUnavailable:
    """The error a caller sees once retrying is over, keeping busy and timeout apart from down."""
    message = f"openai backend: {exc}"
    if isinstance(exc, GenerationBusy):
        return GenerationBusy(exc.in_flight, exc.retry_after, message)
    if isinstance(exc, GenerationTimeout | httpx.TimeoutException):
        return GenerationTimeout(message)
    return GenerationUnavailable(message)


def _error_detail(response: httpx.Response) -> str:
    """The OpenAI-style error's code and message of an error answer, shortened ('' when none)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(error, str):
        return error[:200]
    if not isinstance(error, dict):
        return ""
    parts = [str(error[k]) for k in ("code", "type", "message") if isinstance(error.get(k), str | int) and error[k]]
    return " ".join(dict.fromkeys(parts))[:200]


def _deltas(lines: Iterator[str]) -> Iterator[str]:
    """Content pieces from an SSE stream of chat.completion.chunk objects."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
            choices = event["choices"]
            if not isinstance(choices, list):
                raise TypeError("choices is not a list")
            if not choices:  # usage or content-filter chunks carry no choices
                continue
            delta = choices[0].get("delta") or {}
            if not isinstance(delta, dict):
                raise TypeError("delta is not an object")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise GenerationUnavailable(f"malformed stream event: {data[:80]!r}") from exc
        content = delta.get("content")
        if isinstance(content, str) and content:
            yield content

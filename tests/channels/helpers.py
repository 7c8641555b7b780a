"""Fakes for channel tests: a recording httpx transport, request builders, a fixed clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from server.channels.base import (
    BaseChannel,
    InboundMessage,
    OutboundReply,
    WebhookRequest,
    create_channel,
)
from server.channels.delivery import RetryPolicy

NOW = 1_531_420_618.0  # the timestamp of Slack's documented signing example
FAST = RetryPolicy(attempts=3, base_delay=0)


class FakePlatform:
    """An httpx transport that records requests and answers from a script (then 200 `ok`)."""

    def __init__(
        self, *script: httpx.Response | Exception, default: dict[str, Any] | None = None
    ) -> None:
        self.script = list(script)
        self.default = default if default is not None else {"ok": True}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, json=self.default)

    def client(self) -> httpx.AsyncClient:
        """An AsyncClient on this transport."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def bodies(self) -> list[Any]:
        """The JSON bodies sent, in order (requests without a body left out)."""
        return [json.loads(r.content) for r in self.requests if r.content]


def make(
    kind: str,
    config: dict[str, Any],
    platform: FakePlatform | None = None,
    clock: Callable[[], float] = lambda: NOW,
) -> BaseChannel:
    """A channel of kind for the bot `demo`, on a fake platform, with no retry delays."""
    platform = platform or FakePlatform()
    return create_channel(kind, config, bot="demo", http=platform.client(), retry=FAST, clock=clock)


def post(
    body: bytes | str | dict[str, Any],
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> WebhookRequest:
    """A POST webhook request; dict bodies are JSON-encoded."""
    raw = (
        json.dumps(body).encode()
        if isinstance(body, dict)
        else body.encode()
        if isinstance(body, str)
        else body
    )
    return WebhookRequest(
        "POST", {k.lower(): v for k, v in (headers or {}).items()}, query or {}, raw
    )


def get(query: dict[str, str]) -> WebhookRequest:
    """A GET (setup handshake) request."""
    return WebhookRequest("GET", {}, query, b"")


def reply_to(
    message: InboundMessage,
    text: str = "Hello!",
    reply_id: str = "msg_1",
    citations: list[dict[str, Any]] | None = None,
    quick_replies: list[dict[str, str]] | None = None,
) -> OutboundReply:
    """An outbound reply to message (with quick-reply buttons when given)."""
    return OutboundReply(reply_id, message, text, citations or [], quick_replies or [])

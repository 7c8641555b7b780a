"""Graceful shutdown: on SIGTERM, drain sockets and turns in progress, then let uvicorn stop.

Order of events after SIGTERM (`frontdesk serve`, or any uvicorn running create_app in its main
thread):

1. The app starts draining: new websockets get one {"type": "closing"} frame and are closed
   (1012, service restart); /health answers 503 so a load balancer sends nobody new here.
2. Every open chat socket gets {"type": "closing"}. A socket with a reply in progress keeps
   streaming it to the `final` frame; then, or at once when idle, the server closes it (1012).
   The widget reconnects (to another worker behind the balancer) and re-sends any message
   whose `final` never came, with its original id.
3. When no socket and no HTTP request is left, or after `rate_limits.drain_seconds`, uvicorn is
   told to exit: it closes what remains (a turn cut off there is stored as cancelled, as when a
   customer leaves), runs the app's shutdown and the process exits with status 0.

A second SIGTERM during the drain skips the rest of it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
CLOSE_RESTART = 1012  # websocket close code "service restart": reconnect


class Drainable(Protocol):
    """A connection that can be told to close for a shutdown (server.api.ws.ChatSocket)."""

    async def close_for_shutdown(self) -> None:
        """Say closing, finish the reply in progress, close."""


class Drain:
    """Tracks live sockets and HTTP requests; drains them on shutdown."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False
        self.sockets: set[Drainable] = set()
        self.requests = 0
        self.task: asyncio.Task[None] | None = None

    def register(self, socket: Drainable) -> None:
        """A socket opened."""
        self.sockets.add(socket)

    def unregister(self, socket: Drainable) -> None:
        """A socket closed."""
        self.sockets.discard(socket)

    @property
    def idle(self) -> bool:
        """Nothing left to wait for."""
        return not self.sockets and self.requests == 0

    async def run(self) -> bool:
        """Drain: tell every socket to close after its reply; True when all left within the timeout."""
        self.draining = True
        started = time.monotonic()
        log.warning("draining: %d sockets, %d requests in progress", len(self.sockets), self.requests)
        closers = [asyncio.ensure_future(s.close_for_shutdown()) for s in list(self.sockets)]
        deadline = started + self.seconds
        while not self.idle and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for closer in closers:
            closer.cancel()
        await asyncio.gather(*closers, return_exceptions=True)
        if self.idle:
            log.warning("drained in %.1fs", time.monotonic() - started)
            return True
        log.warning("drain timeout after %.0fs: %d sockets and %d requests still open; stopping anyway",
                    self.seconds, len(self.sockets), self.requests)
        return False

    def install(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Catch SIGTERM (main thread only) to drain first; returns the function that undoes it."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            if self.task is not None:  # a second SIGTERM: stop now
                _hand_over(previous, sig, frame)
                return
            loop.call_soon_threadsafe(self._start, previous, sig, frame)

        signal.signal(signal.SIGTERM, on_sigterm)

        def restore() -> None:
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, previous)

        return restore

    def _start(self, previous: Any, sig: int, frame: FrameType | None) -> None:
        async def drain_then_exit() -> None:
            try:
                await self.run()
            finally:
                _hand_over(previous, sig, frame)

        self.task = asyncio.ensure_future(drain_then_exit())


def _hand_over(previous: Any, sig: int, frame: FrameType | None) -> None:
    """Let the server stop. A uvicorn Server is told to exit cleanly (status 0): the drain already
    was the graceful part, so it should not re-raise SIGTERM after its shutdown (which it does
    when its own handler saw the signal, ending the process with -15)."""
    server = getattr(previous, "__self__", None)
    if server is not None and hasattr(server, "should_exit"):
        config = getattr(server, "config", None)
        if config is not None and getattr(config, "timeout_graceful_shutdown", 0) is None:
            config.timeout_graceful_shutdown = 5  # what is left after the drain gets 5 s more
        server.should_exit = True
    elif callable(previous):
        previous(sig, frame)
    else:
        raise SystemExit(0)


class DrainMiddleware:
    """ASGI middleware that counts the HTTP requests in progress for the drain."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request while it runs."""
        if scope["type"] != "http" or scope.get("path") == "/health":
            return await self.app(scope, receive, send)
        self.drain.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.requests -= 1


"""The live-event hub across workers: events go through Redis pub/sub to every worker's sockets.

With several workers behind a load balancer, a customer's socket may be on worker A while an
agent's reply is posted to worker B. B publishes to Redis; every worker's listener receives it and
hands it to the in-process Hub, which reaches the local sockets. When Redis is unreachable, publish
falls back to local delivery (single-worker behaviour) and the listener keeps reconnecting; stored
messages still reach everyone through history on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis
import redis.asyncio as aioredis

from server.hub import Event, Hub

log = logging.getLogger(__name__)
PREFIX = "frontdesk:conversation:"


class RedisHub(Hub):
    """A Hub whose publish goes through Redis so that every worker delivers it."""

    def __init__(self, url: str, max_pending: int = 100, retry_seconds: float = 1.0) -> None:
        super().__init__(max_pending)
        self.url = url
        self.retry_seconds = retry_seconds
        self._publisher = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._listener: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def publish(self, conversation_id: str, event: Event) -> int:
        """Publish to all workers; returns the local subscriber count (delivered locally if Redis is down)."""
        try:
            self._publisher.publish(PREFIX + conversation_id, json.dumps(event))
        except redis.RedisError as exc:
            log.warning("redis publish failed (%s); delivering to this worker's sockets only", exc)
            return super().publish(conversation_id, event)
        return len(self._subscribers.get(conversation_id, {}))

    async def start(self) -> None:
        """Start listening; returns at once (the listener connects and reconnects in the background)."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening and close the connections."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._publisher.close()

    async def _listen(self) -> None:
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.psubscribe(PREFIX + "*")
                    self.connected.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._deliver(message)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                log.warning("redis listener lost (%s); retrying in %.1fs", exc, self.retry_seconds)
            finally:
                self.connected.clear()
                await client.aclose()
            await asyncio.sleep(self.retry_seconds)

    def _deliver(self, message: dict) -> None:  # type: ignore[type-arg]
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
        try:
            event = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("ignored a malformed event on %s", channel)
            return
        super().publish(channel.removeprefix(PREFIX), event)

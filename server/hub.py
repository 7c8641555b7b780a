"""Live events per conversation (agent messages) for the sockets that show it.

In-process: it reaches the sockets of this worker. With several workers behind a load balancer,
set FRONTDESK_REDIS_URL and server.redis_hub.RedisHub (same interface) carries events between them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

log = logging.getLogger(__name__)
Event = dict[str, Any]


class Hub:
    """Publish an event to every subscriber of a conversation; one asyncio.Queue per subscriber."""

    def __init__(self, max_pending: int = 100) -> None:
        self.max_pending = max_pending
        self._subscribers: dict[str, dict[asyncio.Queue[Event], asyncio.AbstractEventLoop]] = defaultdict(dict)

    def subscribe(self, conversation_id: str) -> asyncio.Queue[Event]:
        """A queue that receives the conversation's events from now on; call from the event loop."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self.max_pending)
        self._subscribers[conversation_id][queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, conversation_id: str, queue: asyncio.Queue[Event]) -> None:
        """Stop delivering to queue."""
        subscribers = self._subscribers.get(conversation_id)
        if subscribers is not None:
            subscribers.pop(queue, None)
            if not subscribers:
                del self._subscribers[conversation_id]

    async def start(self) -> None:
        """Nothing to start in-process (RedisHub starts its listener here)."""

    async def stop(self) -> None:
        """Nothing to stop in-process."""

    def publish(self, conversation_id: str, event: Event) -> int:
        """Deliver event to the conversation's subscribers; returns how many there were."""
        subscribers = list(self._subscribers.get(conversation_id, {}).items())
        for queue, loop in subscribers:
            loop.call_soon_threadsafe(self._put, queue, event)
        return len(subscribers)

    @staticmethod
    def _put(queue: asyncio.Queue[Event], event: Event) -> None:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:  # a stuck socket; the message is stored and comes back in history
            log.warning("dropped a live event for a slow subscriber")


def make_hub(redis_url: str | None) -> Hub:
    """The in-process hub, or the Redis one when a URL is set (needs the `scale` extra)."""
    if not redis_url:
        return Hub()
    try:
        from server.redis_hub import RedisHub
    except ImportError as exc:
        message = "FRONTDESK_REDIS_URL is set but the redis package is missing: pip install '.[scale]'"
        raise RuntimeError(message) from exc
    return RedisHub(redis_url)

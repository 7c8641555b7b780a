"""Live events per conversation (agent messages) for the sockets that show it.

In-process only: it reaches the sockets of this worker. With several workers behind a load
balancer, the Redis pub/sub variant (a later issue) must replace it; the interface stays.
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

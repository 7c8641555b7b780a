"""The in-process hub: per-conversation delivery, unsubscribe, publishing from another thread."""

from __future__ import annotations

import asyncio
import threading

from server.hub import Hub


def test_events_reach_only_the_conversations_subscribers_until_they_leave() -> None:
    async def scenario() -> None:
        hub = Hub()
        mine, also_mine, other = hub.subscribe("c1"), hub.subscribe("c1"), hub.subscribe("c2")
        assert hub.publish("c1", {"type": "agent_message", "text": "hi"}) == 2
        await asyncio.sleep(0)
        assert mine.get_nowait() == also_mine.get_nowait() == {"type": "agent_message", "text": "hi"}
        assert other.empty()
        hub.unsubscribe("c1", mine)
        hub.unsubscribe("c1", also_mine)
        assert hub.publish("c1", {"type": "x"}) == 0

    asyncio.run(scenario())


def test_publishing_from_a_worker_thread_is_delivered_on_the_loop() -> None:
    async def scenario() -> dict:
        hub = Hub()
        queue = hub.subscribe("c1")
        threading.Thread(target=hub.publish, args=("c1", {"type": "agent_message"})).start()
        return await asyncio.wait_for(queue.get(), timeout=5)

    assert asyncio.run(scenario()) == {"type": "agent_message"}

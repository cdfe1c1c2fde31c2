"""A cycle's changes reach the store and every listener at once: written in one commit, every
text in them redacted first, then put on each subscriber's queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.models import Event
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.store import CycleWrites, Store


class EventBus:
    def __init__(self, store: AsyncStore, redactor: Redactor) -> None:
        self.store = store
        self.redactor = redactor
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._committed = asyncio.Condition()

    async def commit(self, writes: CycleWrites) -> None:
        redact = self.redactor
        for event in writes.events:
            event.message = redact(event.message)
        for pilot in writes.pilots:
            pilot.reason = redact(pilot.reason)
        for cluster in writes.clusters:
            cluster.reason = redact(cluster.reason)
            for condition in cluster.conditions:
                condition.reason = redact(condition.reason)
        await self.store.run(Store.commit_cycle, writes)
        for event in writes.events:
            for queue in self._subscribers:
                queue.put_nowait(event)
        async with self._committed:
            self._committed.notify_all()

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every event from now on; whoever holds it can drain it at the end."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.remove(queue)

    async def events(self) -> AsyncIterator[Event]:
        queue = self.subscribe()
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(queue)

    async def next_commit(self, timeout: float) -> None:
        """Until the next commit of this process, or `timeout` seconds."""
        async with self._committed:
            try:
                await asyncio.wait_for(self._committed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

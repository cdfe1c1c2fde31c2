"""From the engine to the screens: engine events become one message per burst, and each view's
refresh runs one at a time, once more if asked while it ran, so polls never overlap and a burst
of events costs at most one refresh per engine cycle."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.message import Message

from vc3tui.engine import Engine

POLL_SECONDS = 2.0
"""Views also refresh this often without events: other processes (a headless run, another
member's factory) change the store too."""


class StoreChanged(Message):
    """Something changed: these clusters (an engine cycle's events), or anything (a poll: None)."""

    def __init__(self, cluster_ids: frozenset[str] | None) -> None:
        super().__init__()
        self.cluster_ids = cluster_ids


async def feed(engine: Engine, post: Callable[[Message], object], poll: float = POLL_SECONDS) -> None:
    """Post StoreChanged for every burst of engine events (all the events already queued count
    as one), and once per `poll` seconds of quiet."""
    queue = engine.subscribe()
    try:
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), poll)
            except asyncio.TimeoutError:
                post(StoreChanged(None))
                continue
            ids = {first.cluster_id}
            while not queue.empty():
                ids.add(queue.get_nowait().cluster_id)
            post(StoreChanged(frozenset(i for i in ids if i)))
    finally:
        engine.unsubscribe(queue)


class Coalescer:
    """Runs `refresh` one at a time: a request during a run makes exactly one more run after it."""

    def __init__(self, refresh: Callable[[], Awaitable[None]]) -> None:
        self._refresh = refresh
        self._running = False
        self._again = False
        self.runs = 0

    async def request(self) -> None:
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                await self._refresh()
                self.runs += 1
                if not self._again:
                    return
        finally:
            self._running = False


class StoreView:
    """A view drawn from the store: `reload` runs when the view is mounted and whenever the store
    changes in a way it `wants`, one run at a time, so the view never blocks on the engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coalescer = Coalescer(self.reload)

    async def reload(self) -> None:
        raise NotImplementedError

    def wants(self, message: StoreChanged) -> bool:
        return True

    def request_reload(self) -> None:
        self.run_worker(self.coalescer.request(), exit_on_error=False)

    def on_mount(self) -> None:
        self.request_reload()

    def on_store_changed(self, message: StoreChanged) -> None:
        if self.wants(message):
            self.request_reload()

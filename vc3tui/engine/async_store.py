"""The store for asyncio code: SQLite kept on one thread of its own, so no call blocks the loop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from vc3tui.engine.store import Store
from vc3tui.engine.store_rows import database_problem

T = TypeVar("T")


class AsyncStore:
    """The store for asyncio code: every call runs on the store's own thread, never on the loop."""

    def __init__(self, path: Path) -> None:
        """Open (and migrate) the database on the thread that will serve it; done once at start-up."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vc3tui-store")
        self.store = self._thread.submit(Store, path).result()

    async def run(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`await astore.run(Store.clusters)`: call a Store method on the store's thread."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, lambda: method(self.store, *args, **kwargs))
        except sqlite3.Error as exc:
            raise database_problem(exc, self.store.path) from None

    async def close(self) -> None:
        await self.run(Store.close)
        self._thread.shutdown(wait=True)


def default_owner() -> str:
    """Who holds a lease: host and pid, so a person can tell which process it is."""
    return f"{os.uname().nodename}:{os.getpid()}"

"""Waiting for real processes and daemons to get somewhere, with a message when they don't."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_until_async(check: Callable[[], T], timeout: float, what: str) -> T:
    """wait_until for async tests: the event loop (and the engine's factory in it) keeps running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_until_awaited(check: Callable[[], Awaitable[T]], timeout: float = 30, what: str = "the check to pass") -> T:
    """wait_until_async for a check that is itself a coroutine (a status read from a site)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")

"""One allocation as the factory, the head and the gate use it."""

from __future__ import annotations

from dataclasses import dataclass

from vc3tui.engine.interfaces import BatchSystem, Executor


@dataclass(frozen=True)
class Site:
    """Where commands run, which batch system, its pilots' dir."""

    allocation: str
    executor: Executor
    batch: BatchSystem
    workdir: str
    poll_interval: float
    host: str = "localhost"
    account: str | None = None
    partition: str | None = None
    batch_options: tuple[str, ...] = ()
    shared_filesystem: bool = True

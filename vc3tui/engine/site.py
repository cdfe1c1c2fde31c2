"""One allocation as the factory, the head and the gate use it."""

from __future__ import annotations

from dataclasses import dataclass

from vc3tui.engine.interfaces import BatchSystem, Executor, PilotShape
from vc3tui.engine.models import WorkerSpec


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

    def shape(self, workers: WorkerSpec, walltime: int) -> PilotShape:
        """A batch job of the workers' size for `walltime`, with this site's partition, account and options."""
        return PilotShape(workers.cores, workers.memory_mb, workers.disk_mb, walltime, self.partition, self.account, self.batch_options)

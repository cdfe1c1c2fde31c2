"""Batch systems: how pilots become jobs on a site, and how their state is read back."""

from __future__ import annotations

from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.batch.slurm import SlurmBatch
from vc3tui.engine.interfaces import BatchSystem
from vc3tui.engine.models import BatchKind


def batch_system(kind: BatchKind) -> BatchSystem:
    """The adapter for a resource's batch system; a clear error for one not built yet."""
    if kind is BatchKind.FORK:
        return ForkBatch()
    if kind is BatchKind.SLURM:
        return SlurmBatch()
    raise NotImplementedError(f"batch system {kind} is not supported yet; use fork or slurm")

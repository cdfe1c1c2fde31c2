"""Batch systems: how pilots become jobs on a site, and how their state is read back."""

from __future__ import annotations

from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.batch.sge import SGEBatch
from vc3tui.engine.batch.slurm import SlurmBatch
from vc3tui.engine.interfaces import BatchSystem
from vc3tui.engine.models import BatchKind


_ADAPTERS: dict[BatchKind, BatchSystem] = {}


def batch_system(kind: BatchKind) -> BatchSystem:
    """The adapter for a resource's batch system (one per kind, so its parse memos are shared)."""
    if kind not in _ADAPTERS:
        if kind is BatchKind.FORK:
            _ADAPTERS[kind] = ForkBatch()
        elif kind is BatchKind.SLURM:
            _ADAPTERS[kind] = SlurmBatch()
        elif kind is BatchKind.SGE:
            _ADAPTERS[kind] = SGEBatch()
        else:
            raise NotImplementedError(f"batch system {kind} is not supported yet; use fork, slurm or sge")
    return _ADAPTERS[kind]

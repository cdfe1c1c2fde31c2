"""Batch systems: how pilots become jobs on a site, and how their state is read back."""

from __future__ import annotations

from vc3tui.engine.batch.condor import CondorBatch
from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.batch.lsf import LSFBatch
from vc3tui.engine.batch.pbs import PBSBatch
from vc3tui.engine.batch.sge import SGEBatch
from vc3tui.engine.batch.slurm import SlurmBatch
from vc3tui.engine.interfaces import BatchSystem
from vc3tui.engine.models import BatchKind


_MAKERS = {
    BatchKind.FORK: ForkBatch,
    BatchKind.SLURM: SlurmBatch,
    BatchKind.SGE: SGEBatch,
    BatchKind.PBS: PBSBatch,
    BatchKind.TORQUE: lambda: PBSBatch(torque=True),
    BatchKind.LSF: LSFBatch,
    BatchKind.CONDOR: CondorBatch,
}
_ADAPTERS: dict[BatchKind, BatchSystem] = {}


def batch_system(kind: BatchKind) -> BatchSystem:
    """The adapter for a resource's batch system (one per kind, so its parse memos are shared)."""
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = _MAKERS[kind]()
    return _ADAPTERS[kind]

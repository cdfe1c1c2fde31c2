"""Batch systems: how pilots become jobs on a site, and how their state is read back."""

from __future__ import annotations

import importlib

from vc3tui.engine.interfaces import BatchSystem
from vc3tui.engine.models import BatchKind

_MAKERS = {
    BatchKind.FORK: ("fork", "ForkBatch", {}),
    BatchKind.SLURM: ("slurm", "SlurmBatch", {}),
    BatchKind.SGE: ("sge", "SGEBatch", {}),
    BatchKind.PBS: ("pbs", "PBSBatch", {}),
    BatchKind.TORQUE: ("pbs", "PBSBatch", {"torque": True}),
    BatchKind.LSF: ("lsf", "LSFBatch", {}),
    BatchKind.CONDOR: ("condor", "CondorBatch", {}),
}
"""Module, class and arguments of each kind's adapter, imported when a site first needs it."""
_ADAPTERS: dict[BatchKind, BatchSystem] = {}


def batch_system(kind: BatchKind) -> BatchSystem:
    """The adapter for a resource's batch system (one per kind, so its parse memos are shared)."""
    if kind not in _ADAPTERS:
        module, name, arguments = _MAKERS[kind]
        _ADAPTERS[kind] = getattr(importlib.import_module(f"vc3tui.engine.batch.{module}"), name)(**arguments)
    return _ADAPTERS[kind]

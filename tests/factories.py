"""Small builders of valid models for tests."""

from __future__ import annotations

import json

from vc3tui.engine.models import AllocationUse, Blueprint, Cluster, MiddlewareKind, WorkerSpec


def blueprint(name: str = "demo", count: int = 2, middleware: MiddlewareKind = MiddlewareKind.DASK) -> Blueprint:
    return Blueprint(
        name=name,
        middleware=middleware,
        workers=WorkerSpec(count=count),
        allocations=[AllocationUse(name="local")],
    )


def cluster(cluster_id: str = "0123abcd", name: str = "demo", count: int = 2) -> Cluster:
    return Cluster(id=cluster_id, name=name, blueprint=blueprint(name, count), requested=count)


def command_blueprint(name: str, command: list[str], *, count: int, allocation: str = "local", walltime: str = "", entry: list[str] | None = None) -> str:
    """A blueprint file's text, as a user writes one, for a cluster without middleware whose pilots
    each run `command` (and whose head runs `entry`)."""
    head = f"entry = {json.dumps(entry)}\n" if entry else ""
    limit = f"walltime = {json.dumps(walltime)}\n" if walltime else ""
    workers = f"[workers]\ncount = {count}\n{limit}command = {json.dumps(command)}\n"
    return f"name = {json.dumps(name)}\nmiddleware = \"none\"\n{head}\n{workers}\n[[allocations]]\nname = {json.dumps(allocation)}\n"


def sleepers(name: str, allocation: str, count: int) -> Blueprint:
    """A cluster without middleware whose pilots sleep: what the batch-system tests submit."""
    workers = WorkerSpec(count=count, walltime=1800, command=["sleep", "600"])
    return Blueprint(name=name, middleware=MiddlewareKind.NONE, workers=workers, allocations=[AllocationUse(name=allocation)])

"""Small builders of valid models for tests."""

from __future__ import annotations

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

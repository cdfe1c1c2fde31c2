"""Autoscaling on a real local Dask cluster: up with queued tasks, back to min after the idle time."""

from __future__ import annotations

from collections.abc import Callable

import asyncio
import os
import sys
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Autoscale, Blueprint, Environment, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterCondition, ClusterState

from tests.processes import leftovers

pytestmark = pytest.mark.timeout(600)

WORKLOAD = """
import sys, time
from distributed import Client
with Client(sys.argv[1], timeout=60) as client:
    results = client.gather(client.map(lambda i: time.sleep(1.5) or i, range(40)))
print(sum(results))
"""


async def test_autoscale_follows_demand_and_idles_back_down(cluster_home: Path, new_engine: Callable[..., Engine]) -> None:
    pytest.importorskip("distributed")
    engine = new_engine(Dirs.from_environment())
    blueprint = Blueprint(
        name="elastic",
        middleware=MiddlewareKind.DASK,
        environment=Environment(pip=["dask[distributed]"]),
        workers=WorkerSpec(count=0, walltime=1200),
        allocations=[AllocationUse(name="local")],
        autoscale=Autoscale(min=0, max=3, step=2, idle=3),
    )
    cluster = await engine.launch(blueprint)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 540)
    assert row.counts.running == 0
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKLOAD, row.cluster.head.address, stdout=asyncio.subprocess.PIPE, env=dict(os.environ)
    )
    grown = await engine.wait_for(cluster.id, lambda r: r.counts.joined >= 3, 240)
    assert grown.counts.requested == 3, "the autoscaler's target is what the cluster requests"
    reasons = {c.kind: c.reason for c in grown.cluster.conditions}
    assert "demand" in reasons[ClusterCondition.AUTOSCALING] and "max 3" in reasons[ClusterCondition.AUTOSCALING]
    out, _ = await asyncio.wait_for(client.communicate(), 240)
    assert out.decode().strip() == str(sum(range(40)))
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 0 and r.counts.requested == 0, 120)
    messages = [e.message for e in await engine.store.run(lambda s: s.events(cluster.id))]
    assert any(m.startswith("removing 3 pilots") and "peaceful" in m for m in messages), messages
    pilots = await engine.pilots(cluster.id)
    assert len(pilots) >= 3 and all(p.exit_code == 0 for p in pilots), [(p.index, p.exit_code, p.reason) for p in pilots]
    await engine.terminate(cluster.id)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    await engine.close()
    assert leftovers(cluster_home) == {}

"""Dask with its workers on the real SLURM over real SSH: the site's builder installs
dask[distributed] for the site's own python3 (from a wheelhouse tests/run downloaded, so the test
stays on loopback), the workers join the local scheduler over TLS with the cluster's certificates,
and a real task set completes on them."""

from __future__ import annotations

import sys
import json
import os
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, MiddlewareKind, WorkerSpec
from vc3tui.engine.states import ClusterState, PilotState

from tests import ROOT
from tests.slurm_site import offline_pip, our_jobs, slurm_allocation

WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
pytestmark = pytest.mark.timeout(600)

TASKS = """
import json
from distributed import Client, get_worker
with Client() as client:
    futures = client.map(lambda i: (i * i, get_worker().name), range(20))
    results = client.gather(futures)
print(json.dumps({"sum": sum(r[0] for r in results), "workers": sorted({r[1] for r in results})}))
"""


@pytest.fixture
def site_pip(site) -> None:
    if not any(WHEELHOUSE.glob("distributed-*.whl")):
        pytest.skip("no wheelhouse: tests/run downloads it before the tests")
    offline_pip(site.home, WHEELHOUSE)


async def test_dask_workers_on_slurm_run_a_task_set(site, slurm, site_pip, cluster_home: Path, tmp_path: Path, engine: Engine) -> None:
    await slurm_allocation(engine, site, "hpc")
    blueprint = Blueprint(
        name="dask-slurm",
        middleware=MiddlewareKind.DASK,
        environment=Environment(pip=["dask[distributed]"]),
        workers=WorkerSpec(count=2, walltime=1800, memory_mb=1500),
        allocations=[AllocationUse(name="hpc")],
    )
    cluster = await engine.launch(blueprint)
    row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2 or r.cluster.state is ClusterState.FAILED, 400)
    assert row.counts.joined == 2, row.cluster.reason
    assert row.cluster.head.address.startswith(f"tls://{os.uname().nodename}:"), "beyond loopback the scheduler speaks TLS"
    pilots = await engine.pilots(cluster.id)
    assert {p.job_id.split("_")[0] for p in pilots} == {j.split("_")[0] for j, _, _ in our_jobs(slurm, cluster.id)}

    out = tmp_path / "tasks.out"
    with out.open("wb") as sink:
        code = await engine.run_entry(cluster.id, ["python3", "-c", TASKS], tmp_path, stdout=sink.fileno(), stderr=sys.stderr.fileno())
    result = json.loads(out.read_text().splitlines()[-1])
    assert code == 0 and result["sum"] == sum(i * i for i in range(20))
    assert set(result["workers"]) <= {p.tag for p in pilots} and result["workers"]

    await engine.terminate(cluster.id)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 300)
    assert our_jobs(slurm, cluster.id) == []
    # with no task left there is nothing to drain: the pilots are cancelled, and end DONE
    assert {p.state for p in await engine.pilots(cluster.id)} == {PilotState.DONE}

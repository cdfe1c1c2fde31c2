"""Pilots on a real Son of Grid Engine cell over real SSH: resize both ways and terminate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncssh
import pytest

from vc3tui.engine.batch.sge import expand_tasks, parse_qstat_xml, runs
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, BatchKind, Blueprint, MiddlewareKind, Resource, WorkerSpec
from vc3tui.engine.states import ClusterState, PilotState

from tests.slurm_site import assert_validated
from tests.testbed.sshd import USER
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(600)


def our_tasks(cluster_id: str) -> list[tuple[str, str]]:
    """(job.task, state) of this cluster's tasks, as qstat itself lists them."""
    xml = subprocess.run(["qstat", "-xml", "-u", USER], capture_output=True, text=True).stdout
    return sorted((job, state) for tag, (job, state) in parse_qstat_xml(xml, {prefix for prefix in _prefixes(xml) if cluster_id in prefix}).items())


def _prefixes(xml: str) -> set[str]:
    import re

    return set(re.findall(r"<JB_name>([^<]+)</JB_name>", xml))


@pytest.fixture
def site(sge, sshd, user_home: Path):
    yield from sshd.clean_for_a_test(sge.delete_all_jobs)


async def sge_allocation(engine: Engine, bed) -> None:
    """The cell as a resource, and an allocation on it that validated (its test job ran)."""
    engine.save_resource(
        Resource(name="cell", login_hosts=["127.0.0.1"], port=bed.port, batch=BatchKind.SGE, poll_interval=1),
    )
    engine.access.host_keys.add("127.0.0.1", bed.port, asyncssh.read_public_key(bed.root / "host_ed25519.pub"))
    allocation, pair = await engine.access.create("sge1", "cell", USER)
    bed.write_user_file(".ssh/authorized_keys", pair.public_line + "\n")
    validated = await engine.access.validate(allocation)
    assert_validated(validated)


async def test_resize_0_20_5_0_and_terminate_on_sge(site, engine: Engine) -> None:
    await sge_allocation(engine, site)
    blueprint = Blueprint(
        name="cellular", middleware=MiddlewareKind.NONE,
        workers=WorkerSpec(count=0, walltime=1800, command=["sleep", "600"]),
        allocations=[AllocationUse(name="sge1")],
    )  # fmt: skip
    cluster = await engine.launch(blueprint)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 60)
    await engine.resize(cluster.id, 20)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 20, 240)
    # the engine counts SGE's 't' (transferring to the node) as running; qstat says 'r' a moment later
    wait_until(lambda: {state for _, state in our_tasks(cluster.id)} == {"r"}, 60, "qstat to show 20 tasks running")
    tasks = our_tasks(cluster.id)
    assert len(tasks) == 20 and {state for _, state in tasks} == {"r"}
    assert len({job.split(".")[0] for job, _ in tasks}) == 1, "one qsub -t for all 20"

    await engine.resize(cluster.id, 5, peaceful=True)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 5, 120)
    wait_until(lambda: len(our_tasks(cluster.id)) == 5, 60, "qstat to show 5 tasks")
    running = sorted(p.index for p in await engine.pilots(cluster.id) if p.state is PilotState.RUNNING)
    assert running == [0, 1, 2, 3, 4]

    await engine.resize(cluster.id, 0, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 0, 120)
    wait_until(lambda: our_tasks(cluster.id) == [], 60, "qstat to show no tasks")

    await engine.resize(cluster.id, 2)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 2, 120)
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert our_tasks(cluster.id) == []
    assert not (site.home / ".vc3tui" / "clusters" / cluster.id).exists()


def test_task_ranges_and_runs() -> None:
    assert expand_tasks("9-20:1") == list(range(9, 21))
    assert expand_tasks("1-9:2,12") == [1, 3, 5, 7, 9, 12]
    assert runs([3, 4, 5, 9, 10, 20]) == [(3, 5), (9, 10), (20, 20)]

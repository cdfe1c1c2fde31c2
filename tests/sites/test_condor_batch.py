"""Condor as a batch system for real: pilots submitted over SSH to the schedd of an HTCondor pool
whose submit host is the site's login node (tests/testbed/condor.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.crash_points import POINTS, crash_then_resume
from tests.factories import command_blueprint, sleepers
from tests.slurm_site import slurm_allocation
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import BatchKind
from vc3tui.engine.states import ClusterState, PilotState

pytestmark = pytest.mark.timeout(600)


def ours(condor_site_bed, cluster_id: str) -> list[tuple[str, str, str]]:
    """(proc id, JobStatus, tag) of this cluster's procs, as the schedd lists them."""
    return [tuple(line.split()) for line in condor_site_bed.queue() if f"-{cluster_id}-" in line]


async def test_pilots_resize_and_terminate_on_a_real_schedd(condor_site, condor_site_bed, engine: Engine) -> None:
    await slurm_allocation(engine, condor_site, "pool", batch=BatchKind.CONDOR)
    cluster = await engine.launch(sleepers("condor", "pool", 0))
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 60)
    for count in (20, 5, 0):
        await engine.resize(cluster.id, count, peaceful=False)
        row = await engine.wait_for(cluster.id, lambda r: r.counts.running + r.counts.queued == count and len(ours(condor_site_bed, cluster.id)) == count, 120)
        assert row.counts.error == 0, row.counts
        if count == 20:
            procs = ours(condor_site_bed, cluster.id)
            assert len({proc.split(".")[0] for proc, _, _ in procs}) == 1, "twenty pilots, one submit file"
            pilots = {p.tag: p for p in await engine.pilots(cluster.id)}
            assert {tag: pilots[tag].job_id for _, _, tag in procs} == {tag: proc for proc, _, tag in procs}, "each proc's ad names its pilot"
            await engine.wait_for(cluster.id, lambda r: r.counts.running == 2, 120)  # the pool's one node has two cores
    await engine.resize(cluster.id, 3, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.counts.running + r.counts.queued == 3, 120)
    held = ours(condor_site_bed, cluster.id)[0][0]
    condor_site_bed.pool.run(["condor_hold", "-reason", "over the disk quota", held])
    await engine.wait_for(cluster.id, lambda r: r.counts.error == 1, 60)
    [pilot] = [p for p in await engine.pilots(cluster.id) if p.job_id == held]
    assert pilot.state is PilotState.HELD and "over the disk quota" in pilot.reason
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert ours(condor_site_bed, cluster.id) == []


CRASHY = command_blueprint(
    "crashy", ["sleep", "600"], count=2, walltime="30m", allocation="pool",  # the pool's node has two cores: all join
    entry=["sh", "-c", "touch entry-started; while [ ! -e release ]; do sleep 0.2; done"],
)  # fmt: skip


@pytest.mark.parametrize("point", POINTS)
async def test_crash_points_converge_without_duplicates(condor_site, condor_site_bed, tmp_path: Path, point: str, engine: Engine, new_engine: Callable[..., Engine]) -> None:
    await slurm_allocation(engine, condor_site, "pool", batch=BatchKind.CONDOR)
    await engine.close()
    (tmp_path / "crashy.toml").write_text(CRASHY)
    jobs = lambda cluster_id: [proc for proc, _, _ in ours(condor_site_bed, cluster_id)]  # noqa: E731
    await crash_then_resume(point, tmp_path / "crashy.toml", 2, jobs, lambda proc: proc.split(".")[0], new_engine)

"""Pilots on a real SLURM reached over real SSH: resize both ways, 500-pilot arrays, backing off a
broken allocation, replacing pilots that end, failing stages, crash points, and a clean teardown."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, BatchKind, Blueprint, Environment, MiddlewareKind, Resource, WorkerSpec
from vc3tui.engine.states import AllocationState, ClusterCondition, ClusterState, PilotStage, PilotState

from tests.crash_points import POINTS, crash_then_resume
from tests.factories import command_blueprint
from tests.slurm_site import our_jobs, slurm_allocation
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(600)


def sleeper(name: str, count: int, allocations: list[str], **workers) -> Blueprint:
    return Blueprint(
        name=name,
        middleware=MiddlewareKind.NONE,
        workers=WorkerSpec(count=count, walltime=1800, command=workers.pop("command", ["sleep", "600"]), **workers),
        allocations=[AllocationUse(name=a) for a in allocations],
    )


async def test_resize_0_20_5_0_checked_with_squeue_and_terminate_leaves_nothing(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "slurm1")
    cluster = await engine.launch(sleeper("resizer", 0, ["slurm1"]))
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 60)
    assert our_jobs(slurm, cluster.id) == []

    await engine.resize(cluster.id, 20)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 20, 240)
    jobs = our_jobs(slurm, cluster.id)
    assert len(jobs) == 20 and {state for _, state, _ in jobs} == {"RUNNING"}
    assert len({job.split("_")[0] for job, _, _ in jobs}) == 1, "one sbatch --array for all 20"

    await engine.resize(cluster.id, 5, peaceful=True)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 5, 120)
    wait_until(lambda: len(our_jobs(slurm, cluster.id)) == 5, 60, "squeue to show 5 jobs")
    oldest = sorted(p.index for p in await engine.pilots(cluster.id) if p.state is PilotState.RUNNING)
    assert oldest == [0, 1, 2, 3, 4], "the youngest were removed"

    await engine.resize(cluster.id, 0, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 0, 120)
    wait_until(lambda: our_jobs(slurm, cluster.id) == [], 60, "squeue to show no jobs")
    assert (await engine.status(cluster.id)).counts.error == 0

    await engine.resize(cluster.id, 3)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 3, 120)
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert our_jobs(slurm, cluster.id) == []
    assert not (site.home / ".vc3tui" / "clusters" / cluster.id).exists(), "staged files removed"
    assert (site.home / ".vc3tui" / "builder").exists(), "the shared builder stays for the next cluster"


async def test_500_pilot_array_with_64_running_shows_436_queued(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "slurm1")
    cluster = await engine.launch(sleeper("big", 500, ["slurm1"]))
    row = await engine.wait_for(cluster.id, lambda r: r.counts.running == 64 and r.counts.queued == 436, 300)
    assert row.counts.requested == 500
    states = [state for _, state, _ in our_jobs(slurm, cluster.id)]
    assert (states.count("RUNNING"), states.count("PENDING")) == (64, 436)
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 300)
    assert our_jobs(slurm, cluster.id) == []


async def test_bad_partition_is_backed_off_and_its_share_moves(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "good")
    await slurm_allocation(engine, site, "bad")
    engine.save_resource(
        Resource(name="site-bad", login_hosts=["127.0.0.1"], port=site.port, batch=BatchKind.SLURM, partition="nosuch", poll_interval=1),
    )
    cluster = await engine.launch(sleeper("spread", 4, ["bad", "good"]))
    row = await engine.wait_for(cluster.id, lambda r: r.counts.running == 4, 180)
    pilots = [p for p in await engine.pilots(cluster.id) if p.state is PilotState.RUNNING]
    assert {p.allocation for p in pilots} == {"good"}
    backed = [c for c in row.cluster.conditions if c.kind is ClusterCondition.BACKED_OFF]
    assert backed and backed[0].allocation == "bad" and "invalid partition" in backed[0].reason.lower()
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)


async def test_pilot_that_exits_early_is_replaced(site, slurm, engine: Engine) -> None:
    command = ["sh", "-c", 'mkdir "$HOME/early-$VC3_CLUSTER_ID" 2>/dev/null && exit 3; exec sleep 600']
    cluster = None
    try:
        await slurm_allocation(engine, site, "slurm1")
        cluster = await engine.launch(sleeper("replacer", 3, ["slurm1"], command=command))
        row = await engine.wait_for(cluster.id, lambda r: r.counts.running == 3 and r.counts.error == 1, 180)
        pilots = await engine.pilots(cluster.id)
        (failed,) = [p for p in pilots if p.state is PilotState.FAILED]
        assert failed.exit_code == 3 and "exited with status 3" in failed.reason
        assert len(pilots) == 4 and row.counts.requested == 3
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    finally:
        if cluster is not None:
            shutil.rmtree(site.home / f"early-{cluster.id}", ignore_errors=True)


async def test_failing_builder_shows_its_stage_and_log_tail(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "slurm1")
    # the plan holds (the builder's dry run finds python and pip), the build itself fails
    blueprint = sleeper("broken", 1, ["slurm1"]).model_copy(update={"environment": Environment(pip=["vc3tui-no-such-package"])})
    cluster = await engine.launch(blueprint)
    await engine.wait_for(cluster.id, lambda r: r.counts.error >= 1, 180)
    failed = next(p for p in await engine.pilots(cluster.id) if p.state is PilotState.FAILED)
    assert failed.stage is PilotStage.BUILDING
    assert failed.reason.startswith("exited with status 1: pip install vc3tui-no-such-package failed to build:"), failed.reason
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)


async def test_on_the_login_node_itself_without_ssh(slurm, home: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    engine.save_resource(Resource(name="here", batch=BatchKind.SLURM, poll_interval=1))
    allocation, _ = await engine.access.create("here", "here", None)
    validated = await engine.access.validate(allocation)
    assert validated.state is AllocationState.READY, validated.report[-1]
    assert "resolve host" not in {s.stage for s in validated.report}
    cluster = await engine.launch(sleeper("onsite", 2, ["here"]))
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 2, 120)
    assert len(our_jobs(slurm, cluster.id)) == 2
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert our_jobs(slurm, cluster.id) == []


async def test_expired_cluster_terminates_itself(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "slurm1")
    cluster = await engine.launch(sleeper("shortlived", 1, ["slurm1"]).model_copy(update={"expiration": 3600}))
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 1, 120)
    await engine.extend(cluster.id, 2)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert "expiration" in (await engine.store.run(lambda s: [e.message for e in s.events(cluster.id)])).__str__()
    assert row.counts.running == 0 and our_jobs(slurm, cluster.id) == []


CRASH_BLUEPRINT = command_blueprint(
    "crashy", ["sleep", "600"], count=6, walltime="30m", allocation="slurm1",
    entry=["sh", "-c", "touch entry-started; while [ ! -e release ]; do sleep 0.2; done"],
)  # fmt: skip


@pytest.mark.parametrize("point", POINTS)
async def test_crash_points_converge_without_duplicates(site, slurm, tmp_path: Path, point: str, engine: Engine, new_engine: Callable[..., Engine]) -> None:
    await slurm_allocation(engine, site, "slurm1")
    await engine.close()
    (tmp_path / "crashy.toml").write_text(CRASH_BLUEPRINT)
    jobs = lambda cluster_id: [job for job, _, _ in our_jobs(slurm, cluster_id)]  # noqa: E731
    await crash_then_resume(point, tmp_path / "crashy.toml", 6, jobs, lambda job: job.split("_")[0], new_engine)

"""HTCondor as the middleware, for real: a pool head on the SLURM login host and glideins as
SLURM pilots, every HTCondor program from the relocatable tarball the site's builder unpacks
(neither host has HTCondor). A user's 50 jobs run on the glideins, each started once; a peaceful
shrink lets the drained glidein's job finish, a shrink at once puts its job back in the queue;
a held job shows with HTCondor's reason; autoscale brings glideins for idle jobs and lets them go
when the queue is empty; a glidein that cannot join fails in HTCondor's words. On a site whose
batch system is itself an HTCondor pool, with HTCondor on its nodes, the glideins are that pool's
jobs and the builder takes the system's HTCondor."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.middleware.htcondor import WORKER_CONFIG, WORKER_TOKEN, worker_config
from vc3tui.engine.models import AllocationUse, Autoscale, BatchKind, Blueprint, Cluster, HeadPlacement, HeadSpec, MiddlewareKind, WorkerSpec
from vc3tui.engine.states import ClusterCondition, ClusterState, PilotState

from tests.condor_jobs import on_head, programs, running, starts, submit
from tests.waiting import wait_until_awaited
from tests.slurm_site import our_jobs, slurm_allocation
from tests.testbed.condor_tarball import offer
from tests.testbed.sshd import USER

pytestmark = pytest.mark.timeout(600)

async def pool_on_slurm(engine: Engine, site, condor_tarball: Path, name: str, count: int, cores: int = 1, autoscale: Autoscale | None = None) -> tuple[str, Path]:
    """A pool with its head on the SLURM login host and `count` glideins of `cores` there,
    launched; the cluster's id and the site's builder root, where the tarball is offered."""
    allocation = await slurm_allocation(engine, site, "hpc")
    builder = Path(allocation.workdir) / "builder"
    offer(condor_tarball, builder, owner=USER)
    workers = WorkerSpec(count=count, cores=cores, walltime=1800, idle_timeout=600)
    head = HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="hpc")
    blueprint = Blueprint(name=name, middleware=MiddlewareKind.HTCONDOR, workers=workers, allocations=[AllocationUse(name="hpc")],
                          head=head, autoscale=autoscale)  # fmt: skip
    return (await engine.launch(blueprint)).id, builder


async def test_glideins_on_slurm_run_jobs_and_shrink(site, slurm, condor_tarball: Path, tmp_path: Path, engine: Engine) -> None:
    """Two glideins of two cores each: every shrink below finds both full."""
    cluster_id, builder = await pool_on_slurm(engine, site, condor_tarball, "glideins", 2, cores=2)
    try:
        row = await engine.wait_for(cluster_id, lambda r: r.counts.joined == 2 or r.cluster.state is ClusterState.FAILED, 300)
        assert row.counts.joined == 2, row.cluster.reason
        for daemon in ("condor_collector", "condor_schedd", "condor_startd"):
            started = programs(daemon, USER)
            assert started and all(path.is_relative_to(builder) for path in started), (daemon, started)
        workdir, out = Path(row.cluster.head.workdir), tmp_path / "head.out"

        (workdir / "held.sub").write_text("executable = /nonexistent/program\ntransfer_executable = false\nlog = jobs.log\nqueue\n")
        held = (await on_head(engine, cluster_id, out, "condor_submit -terse held.sub")).split(".")[0]  # matched with the 50
        many = await submit(engine, cluster_id, workdir, out, 50, 0)
        assert await starts(engine, cluster_id, out, many) == [1] * 50
        pilots = {p.tag for p in await engine.pilots(cluster_id)}
        lines = [(workdir / "out" / f"{many}.{n}").read_text().split() for n in range(50)]
        assert sorted(int(line[1]) for line in lines) == list(range(50)) and {line[-1] for line in lines} <= pilots

        row = await engine.wait_for(cluster_id, lambda r: ClusterCondition.WORK_HELD in {c.kind for c in r.cluster.conditions}, 60)
        reason = next(c.reason for c in row.cluster.conditions if c.kind is ClusterCondition.WORK_HELD)
        assert reason.startswith(f"1 job held ({held}.0): Error from ") and "Failed to execute '/nonexistent/program'" in reason, reason
        await on_head(engine, cluster_id, out, f"condor_rm {held}")
        await engine.wait_for(cluster_id, lambda r: ClusterCondition.WORK_HELD not in {c.kind for c in r.cluster.conditions}, 60)

        long = await submit(engine, cluster_id, workdir, out, 4, 6)
        await wait_until_awaited(lambda: running(engine, cluster_id, out, long), 60, "every job running")
        await engine.resize(cluster_id, 1, peaceful=True)
        row = await engine.wait_for(cluster_id, lambda r: r.counts.running == 1, 120)
        assert await starts(engine, cluster_id, out, long) == [1] * 4, "the drained glidein's jobs finished there"
        drained = [p for p in await engine.pilots(cluster_id) if p.state is PilotState.DONE]
        assert [(p.state, p.exit_code) for p in drained] == [(PilotState.DONE, 0)], [p.reason for p in drained]

        await engine.resize(cluster_id, 2)
        await engine.wait_for(cluster_id, lambda r: r.counts.joined == 2, 120)
        cut = await submit(engine, cluster_id, workdir, out, 4, 6)
        await wait_until_awaited(lambda: running(engine, cluster_id, out, cut), 60, "every job running")
        await engine.resize(cluster_id, 1, peaceful=False)
        assert await starts(engine, cluster_id, out, cut) == [1, 1, 2, 2], "the cancelled glidein's jobs went back to the queue and ran again"
    finally:  # a failed test leaves no head and no glidein behind
        await engine.terminate(cluster_id, peaceful=False)
        row = await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
    assert row.cluster.state is ClusterState.TERMINATED, row.cluster.reason
    assert our_jobs(slurm, cluster_id) == []
    assert programs("condor_master", USER) == [], "no glidein and no head left"


async def test_autoscale_brings_glideins_for_idle_jobs_and_lets_them_go(site, slurm, condor_tarball: Path, tmp_path: Path, engine: Engine) -> None:
    cluster_id, _ = await pool_on_slurm(engine, site, condor_tarball, "elastic", 0, autoscale=Autoscale(min=0, max=2, step=2, idle=3))
    try:
        row = await engine.wait_for(cluster_id, lambda r: r.cluster.state in (ClusterState.RUNNING, ClusterState.FAILED), 300)
        assert row.cluster.state is ClusterState.RUNNING and row.counts.running == 0, row.cluster.reason
        workdir, out = Path(row.cluster.head.workdir), tmp_path / "head.out"
        jobs = await submit(engine, cluster_id, workdir, out, 6, 4)
        grown = await engine.wait_for(cluster_id, lambda r: r.counts.joined == 2, 180)
        assert grown.counts.requested == 2, "six idle one-core jobs, at most two glideins"
        assert await starts(engine, cluster_id, out, jobs) == [1] * 6
        await engine.wait_for(cluster_id, lambda r: r.counts.running == 0 and r.counts.requested == 0, 180)
        events = [e.message for e in await engine.cluster_events(cluster_id, limit=1000)]
        assert any(m.startswith("removing 2 pilots") and "peaceful" in m for m in events), events
        assert [p.exit_code for p in await engine.pilots(cluster_id)] == [0, 0], "each glidein shut down peacefully"
    finally:
        await engine.terminate(cluster_id, peaceful=False)
        row = await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
    assert row.cluster.state is ClusterState.TERMINATED and our_jobs(slurm, cluster_id) == []
    assert programs("condor_master", USER) == [], "no glidein and no head left"


async def test_glideins_as_jobs_of_a_condor_site_use_its_htcondor(condor_site, condor_site_bed, tmp_path: Path, engine: Engine) -> None:
    await slurm_allocation(engine, condor_site, "pool", batch=BatchKind.CONDOR)
    workers = WorkerSpec(count=2, walltime=1800, idle_timeout=600)
    head = HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="pool")
    blueprint = Blueprint(name="nested", middleware=MiddlewareKind.HTCONDOR, workers=workers, allocations=[AllocationUse(name="pool")], head=head)
    cluster_id = (await engine.launch(blueprint)).id
    try:
        row = await engine.wait_for(cluster_id, lambda r: r.counts.joined == 2 or r.cluster.state is ClusterState.FAILED, 300)
        assert row.counts.joined == 2, row.cluster.reason
        events = [e.message for e in await engine.cluster_events(cluster_id, limit=100)]
        assert any(m.startswith("software on pool") and "htcondor 23.9.6 (the system's" in m for m in events), events
        procs = [line.split() for line in condor_site_bed.queue() if f"-{cluster_id}-" in line]
        assert len(procs) == 2 and {status for _, status, _ in procs} == {"2"}, "the glideins are the site pool's running jobs"
        workdir, out = Path(row.cluster.head.workdir), tmp_path / "head.out"
        jobs = await submit(engine, cluster_id, workdir, out, 10, 0)
        assert await starts(engine, cluster_id, out, jobs) == [1] * 10
        pilots = {p.tag for p in await engine.pilots(cluster_id)}
        assert {(workdir / "out" / f"{jobs}.{n}").read_text().split()[-1] for n in range(10)} <= pilots
    finally:
        await engine.terminate(cluster_id, peaceful=False)
        row = await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
    assert row.cluster.state is ClusterState.TERMINATED, row.cluster.reason
    assert [line for line in condor_site_bed.queue() if f"-{cluster_id}-" in line] == []


async def test_a_glidein_that_cannot_join_fails_in_htcondors_words(site, slurm, tmp_path: Path, condor_tarball: Path, engine: Engine) -> None:
    """A pool that is not there (a closed port): the glidein asks the collector before it starts,
    and its pilot fails at once with what HTCondor said, instead of running unseen."""
    allocation = await slurm_allocation(engine, site, "hpc")
    offer(condor_tarball, Path(allocation.workdir) / "builder", owner=USER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    ticket = tmp_path / "ticket"
    head = HeadSpec(placement=HeadPlacement.EXTERNAL, address=f"127.0.0.1:{closed}", secrets=str(ticket))
    workers = WorkerSpec(count=1, walltime=1800)
    blueprint = Blueprint(name="nowhere", middleware=MiddlewareKind.HTCONDOR, workers=workers, allocations=[AllocationUse(name="hpc")], head=head)
    ticket.mkdir()
    (ticket / WORKER_CONFIG).write_text(worker_config(Cluster(id="abcdef12", name="nowhere", blueprint=blueprint)))
    (ticket / WORKER_TOKEN).write_text("a token of some other pool\n")
    cluster_id = (await engine.launch(blueprint)).id
    try:
        await engine.wait_for(cluster_id, lambda r: r.counts.error >= 1, 180)
        failed = [p for p in await engine.pilots(cluster_id) if p.state is PilotState.FAILED]
        said = f"the glidein cannot join the pool at 127.0.0.1:{closed}: ERROR: failed to make connection to <127.0.0.1:{closed}>"
        assert failed and said in failed[0].reason, [p.reason for p in failed]
    finally:
        await engine.terminate(cluster_id, peaceful=False)
        row = await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
    assert row.cluster.state is ClusterState.TERMINATED and our_jobs(slurm, cluster_id) == []

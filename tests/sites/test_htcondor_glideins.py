"""HTCondor as the middleware, for real: a pool head on the SLURM login host and glideins as
SLURM pilots, every HTCondor program from the relocatable tarball the site's builder unpacks
(neither host has HTCondor). A user's 50 jobs run on the glideins, each started once; a peaceful
shrink lets the drained glidein's job finish, a shrink at once puts its job back in the queue."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, HeadPlacement, HeadSpec, MiddlewareKind, WorkerSpec
from vc3tui.engine.states import ClusterState, PilotState

from tests.waiting import wait_until_awaited
from tests.slurm_site import our_jobs, slurm_allocation
from tests.testbed.condor_tarball import offer
from tests.testbed.sshd import USER

pytestmark = pytest.mark.timeout(600)

JOBS = """\
executable = /bin/sh
arguments = "-c 'sleep $(seconds); echo job $(Process) on $VC3_PILOT_TAG'"
environment = "VC3_PILOT_TAG=$$(VC3_PILOT_TAG)"
output = out/$(Cluster).$(Process)
error = out/$(Cluster).$(Process).err
log = jobs.log
should_transfer_files = YES
when_to_transfer_output = ON_EXIT
queue {count}
"""


def programs(name: str, user: str) -> list[Path]:
    """Where each running `name` of `user` was started from (/proc/PID/exe)."""
    uid = pwd.getpwnam(user).pw_uid
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid and (exe := Path(os.readlink(proc / "exe"))).name == name:
                found.append(exe)
        except OSError:
            continue
    return found


async def on_head(engine: Engine, cluster_id: str, out: Path, script: str) -> str:
    """A user's shell command on the head, in the cluster's environment; its output."""
    with out.open("wb") as sink:
        code = await engine.run_entry(cluster_id, ["sh", "-c", script], out.parent, stdout=sink.fileno(), stderr=sink.fileno())
    assert code == 0, out.read_text()
    return out.read_text()


async def submit(engine: Engine, cluster_id: str, workdir: Path, out: Path, count: int, seconds: int) -> str:
    """`count` jobs of `seconds` each, submitted from the head's dir; their cluster id."""
    (workdir / "jobs.sub").write_text(JOBS.format(count=count))
    shutil.chown(workdir / "jobs.sub", USER, USER)
    return (await on_head(engine, cluster_id, out, f"mkdir -p out && condor_submit -terse -append seconds={seconds} jobs.sub")).split(".")[0]


async def running(engine: Engine, cluster_id: str, out: Path, job: str) -> bool:
    """Whether every job of cluster `job` runs."""
    return set((await on_head(engine, cluster_id, out, f"condor_q {job} -af JobStatus")).split()) == {"2"}


async def starts(engine: Engine, cluster_id: str, out: Path, job: str) -> list[int]:
    """NumJobStarts of each finished job of cluster `job`, once all have finished."""
    text = await on_head(engine, cluster_id, out, f"condor_wait -wait 240 jobs.log {job} >/dev/null && condor_history {job} -af NumJobStarts")
    return sorted(int(n) for n in text.split())


async def test_glideins_on_slurm_run_jobs_and_shrink(site, slurm, condor_tarball: Path, tmp_path: Path, engine: Engine) -> None:
    allocation = await slurm_allocation(engine, site, "hpc")
    builder = Path(allocation.workdir) / "builder"
    offer(condor_tarball, builder, owner=USER)
    workers = WorkerSpec(count=2, walltime=1800, idle_timeout=600)
    head = HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="hpc")
    blueprint = Blueprint(name="glideins", middleware=MiddlewareKind.HTCONDOR, workers=workers, allocations=[AllocationUse(name="hpc")], head=head)
    cluster = await engine.launch(blueprint)
    try:
        row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2 or r.cluster.state is ClusterState.FAILED, 300)
        assert row.counts.joined == 2, row.cluster.reason
        for daemon in ("condor_collector", "condor_schedd", "condor_startd"):
            started = programs(daemon, USER)
            assert started and all(path.is_relative_to(builder) for path in started), (daemon, started)
        workdir, out = Path(row.cluster.head.workdir), tmp_path / "head.out"

        many = await submit(engine, cluster.id, workdir, out, 50, 0)
        assert await starts(engine, cluster.id, out, many) == [1] * 50
        pilots = {p.tag for p in await engine.pilots(cluster.id)}
        lines = [(workdir / "out" / f"{many}.{n}").read_text().split() for n in range(50)]
        assert sorted(int(line[1]) for line in lines) == list(range(50)) and {line[-1] for line in lines} <= pilots

        long = await submit(engine, cluster.id, workdir, out, 2, 6)
        await wait_until_awaited(lambda: running(engine, cluster.id, out, long), 60, "both jobs running")
        await engine.resize(cluster.id, 1, peaceful=True)
        row = await engine.wait_for(cluster.id, lambda r: r.counts.running == 1, 120)
        assert await starts(engine, cluster.id, out, long) == [1, 1], "the drained glidein's job finished there"
        drained = [p for p in await engine.pilots(cluster.id) if p.state is PilotState.DONE]
        assert [(p.state, p.exit_code) for p in drained] == [(PilotState.DONE, 0)], [p.reason for p in drained]

        await engine.resize(cluster.id, 2)
        await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2, 120)
        cut = await submit(engine, cluster.id, workdir, out, 2, 6)
        await wait_until_awaited(lambda: running(engine, cluster.id, out, cut), 60, "both jobs running")
        await engine.resize(cluster.id, 1, peaceful=False)
        assert await starts(engine, cluster.id, out, cut) == [1, 2], "the cancelled glidein's job went back to the queue and ran again"
    finally:  # a failed test leaves no head and no glidein behind
        await engine.terminate(cluster.id, peaceful=False)
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
    assert row.cluster.state is ClusterState.TERMINATED, row.cluster.reason
    assert our_jobs(slurm, cluster.id) == []
    assert programs("condor_master", USER) == [], "no glidein and no head left"

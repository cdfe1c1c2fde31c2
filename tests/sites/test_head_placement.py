"""Heads placed on a site, on the real test bed: a Work Queue head detached on the SLURM login host
over real SSH, and one run as a SLURM batch job; workers join, the entry point runs on the head
over the kept connection, a restarted engine finds the head by its recorded identity, and
terminate leaves no head and no job. Plus an external head: pilots join a manager we did not start."""

from __future__ import annotations

import sys
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, HeadPlacement, HeadSpec, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware

from tests import ROOT
from tests.processes import group_members
from tests.slurm_site import our_jobs, slurm_allocation
from tests.testbed.sshd import USER

MANAGER = ROOT / "tests" / "blueprints" / "wq_manager.py"
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not shutil.which("work_queue_worker"), reason="cctools is not installed (tests/testbed/install-packages)"),
]


def session_and_owner(pid: int) -> tuple[int, str]:
    """(session id, user name) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")).split()[1])
    return int(fields[3]), pwd.getpwuid(uid).pw_name


@pytest.fixture
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the site's user (head and pilots) and this test can both write and read."""
    folder = Path(tempfile.mkdtemp(prefix="vc3-head-", dir="/tmp"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def run_manager(engine: Engine, cluster_id: str, out: Path, log: Path, tasks: int) -> int:
    """The entry point (a real Work Queue manager) run on the head through the engine, from a
    copy beside `out` (the site's user may not read the checkout, as in a `mktemp -d` clone)."""
    manager = shutil.copy(MANAGER, out.parent / MANAGER.name)
    with out.open("wb") as sink:
        return await engine.run_entry(
            cluster_id, ["/usr/bin/python3", str(manager), str(log), str(tasks), "1"], out.parent, stdout=sink.fileno(), stderr=sys.stderr.fileno()
        )


def two_workers(name: str, allocation: str, head: HeadSpec, *, idle_timeout: int) -> Blueprint:
    """A Work Queue cluster of two workers on `allocation`, its head where `head` says."""
    workers = WorkerSpec(count=2, walltime=1800, idle_timeout=idle_timeout)
    return Blueprint(name=name, middleware=MiddlewareKind.WORKQUEUE, workers=workers, allocations=[AllocationUse(name=allocation)], head=head)


@pytest.mark.parametrize("batch_job", [False, True], ids=["login-host", "batch-job"])
async def test_head_on_a_site(site, slurm, task_dir: Path, batch_job: bool, engine: Engine, new_engine: Callable[..., Engine]) -> None:
    await slurm_allocation(engine, site, "hpc")
    head = HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="hpc", batch_job=batch_job, walltime=1800)
    cluster = await engine.launch(two_workers("remote-head", "hpc", head, idle_timeout=30))
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 180)
    head = row.cluster.head
    assert (head.allocation, head.host, head.hostname) == ("hpc", os.uname().nodename, os.uname().nodename)
    assert row.cluster.state is ClusterState.RUNNING, row.cluster.reason
    # workers are given the node's own name: the head listens on every interface
    assert head.address.startswith(f"{os.uname().nodename}:")
    jobs = our_jobs(slurm, f"{cluster.id}head")
    if batch_job:
        assert head.pid is None and [job for job, _, _ in jobs] == [head.job_id]
    else:
        assert head.job_id is None and jobs == []
        # fully detached: its own session, run as the site's user, no sshd of ours above it
        assert session_and_owner(head.pid) == (head.pid, USER)

    code = await run_manager(engine, cluster.id, task_dir / "entry.out", task_dir / "tasks.log", 4)
    returned = [json.loads(line) for line in (task_dir / "entry.out").read_text().splitlines()]
    assert code == 0 and len(returned) == 4 and all(r["status"] == 0 for r in returned)
    starts = [line.split() for line in (task_dir / "tasks.log").read_text().splitlines() if " start " in line]
    assert sorted(int(s[0]) for s in starts) == [0, 1, 2, 3]
    assert {s[2] for s in starts} <= {p.tag for p in await engine.pilots(cluster.id)}

    # a new engine (this one closed, as after a crash or a quit) finds the same head
    await engine.close()
    engine = new_engine(Dirs.from_environment(), interactive=False)
    assert await engine.manage(cluster.id)
    await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2, 120)
    again = (await engine.status(cluster.id)).cluster
    assert again.state is ClusterState.RUNNING and (again.head.pid, again.head.job_id) == (head.pid, head.job_id)

    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert our_jobs(slurm, cluster.id) == [] and our_jobs(slurm, f"{cluster.id}head") == []
    if not batch_job:
        assert not group_members(head.pid, "head-0"), "the head's process group is gone"


async def test_external_head_gets_workers(site, slurm, task_dir: Path, new_engine: Callable[..., Engine]) -> None:
    """A Work Queue manager the user runs (not vc3tui) gains pilots from an allocation."""
    env = {**os.environ, "VC3_WQ_PORT": "0"}
    manager = subprocess.Popen(
        ["/usr/bin/python3", "-c", EXTERNAL_MANAGER, str(task_dir / "tasks.log")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    engine = new_engine(Dirs.from_environment(), interactive=False)
    try:
        port = int(manager.stdout.readline())
        await slurm_allocation(engine, site, "ext")
        head = HeadSpec(placement=HeadPlacement.EXTERNAL, address=f"127.0.0.1:{port}")
        cluster = await engine.launch(two_workers("extend", "ext", head, idle_timeout=60))
        row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2, 180)
        assert row.cluster.head.external and row.cluster.head.pid is None
        assert WorkQueueMiddleware().client_environment(row.cluster) == {"VC3_WQ_MANAGER": f"127.0.0.1:{port}"}
        out, err = manager.communicate(timeout=180)
        assert sorted(json.loads(line)["status"] for line in out.splitlines()) == [0, 0, 0], err
        await engine.terminate(cluster.id)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
        assert our_jobs(slurm, cluster.id) == []
    finally:
        if manager.poll() is None:
            manager.kill()
            manager.wait()


EXTERNAL_MANAGER = """
import json, sys, work_queue
queue = work_queue.WorkQueue(port=0)
print(queue.port, flush=True)
for key in range(3):
    queue.submit(work_queue.Task("echo %d $VC3_PILOT_TAG >> %s; sleep 1" % (key, sys.argv[1])))
while not queue.empty():
    task = queue.wait(5)
    if task:
        print(json.dumps({"status": task.return_status}), flush=True)
"""

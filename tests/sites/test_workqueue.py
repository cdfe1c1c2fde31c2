"""Work Queue on the real test bed: Debian's cctools, a private catalog on loopback, pilots on the
real SLURM over real SSH, and a real manager. Peaceful shrink is proven against its opposite: the
same run without peace must restart a task, or the test could not tell the difference."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from vc3tui.engine.engine import ClusterRow, Engine
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware
from vc3tui.engine.models import AllocationUse, Blueprint, HeadSpec, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState, PilotState

from tests import ROOT
from tests.slurm_site import our_jobs, slurm_allocation
from tests.waiting import wait_until_async

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not shutil.which("work_queue_worker"), reason="cctools is not installed (tests/testbed/install-packages)"),
]


def task_log(path: Path) -> list[tuple[int, str, str, float]]:
    """(key, start|end, pilot tag, time) for every line the tasks wrote."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        key, what, tag, stamp = line.split()
        rows.append((int(key), what, tag, float(stamp)))
    return rows


@pytest.fixture
def shared_log(shared_dir: Path) -> Path:
    return shared_dir / "tasks.log"


async def launch_running(engine: Engine, site, name: str, workers: WorkerSpec) -> ClusterRow:
    """A Work Queue cluster on the bed's SLURM (allocation "wq"), once its head runs."""
    await slurm_allocation(engine, site, "wq")
    blueprint = Blueprint(
        name=name,
        middleware=MiddlewareKind.WORKQUEUE,
        workers=workers,
        allocations=[AllocationUse(name="wq")],
        head=HeadSpec(listen="127.0.0.1"),
    )
    cluster = await engine.launch(blueprint)
    return await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 120)


def start_manager(row: ClusterRow, shared_log: Path, tasks: int, seconds: int) -> subprocess.Popen[str]:
    """tests/blueprints/wq_manager.py, listening where vc3tui tells a manager to."""
    env = {**os.environ, **WorkQueueMiddleware().client_environment(row.cluster)}
    return subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "tests" / "blueprints" / "wq_manager.py"), str(shared_log), str(tasks), str(seconds)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("peaceful", [True, False], ids=["peaceful", "at-once"])
async def test_shrink_mid_run(site, slurm, shared_log: Path, peaceful: bool, engine: Engine) -> None:
    manager = None
    try:
        row = await launch_running(engine, site, "wq-shrink", WorkerSpec(count=3, walltime=1800, idle_timeout=10))
        cluster = row.cluster
        manager = start_manager(row, shared_log, 6, 8)
        await engine.wait_for(cluster.id, lambda r: r.counts.joined == 3, 180)
        await wait_until_async(
            lambda: len({tag for _, what, tag, _ in task_log(shared_log) if what == "start"}) == 3, 60, "a task on each pilot"
        )

        await engine.resize(cluster.id, 1, peaceful=peaceful)
        out, err = await asyncio.to_thread(manager.communicate, timeout=300)
        returned = [json.loads(line) for line in out.splitlines()]
        assert len(returned) == 6 and all(r["status"] == 0 for r in returned), err

        starts = Counter(key for key, what, _, _ in task_log(shared_log) if what == "start")
        if not peaceful:
            assert max(starts.values()) > 1, "cancelling busy pilots must restart a task, or this test proves nothing"
        else:
            assert starts == Counter(range(6)), "every task started exactly once"
            drained = [p for p in await engine.pilots(cluster.id) if p.index in (1, 2)]
            row = await engine.wait_for(cluster.id, lambda r: r.counts.running == 1, 120)
            for pilot in await engine.pilots(cluster.id):
                if pilot.tag not in {p.tag for p in drained}:
                    continue
                assert (pilot.state, pilot.exit_code) == (PilotState.DONE, 0), pilot.reason
                last_end = max((t for _, what, tag, t in task_log(shared_log) if tag == pilot.tag and what == "end"), default=0)
                assert pilot.ended_at >= last_end, "a drained pilot exits only after its last task"

        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        assert our_jobs(slurm, cluster.id) == []
    finally:
        if manager and manager.poll() is None:
            manager.kill()
            manager.wait()


@pytest.mark.parametrize("gated", [True, False], ids=["gated", "ungated"])
async def test_pilots_that_start_before_the_manager_wait_for_it(site, slurm, shared_log: Path, gated: bool, monkeypatch, new_engine: Callable[..., Engine]) -> None:
    """Pilots running before the user's manager listens hold their worker at the gate: no worker
    tries a port nobody listens on, and the manager never sees a look at its port as a worker
    with the wrong password. Without the gate the same run shows the failed tries."""
    if not gated:
        monkeypatch.setattr("vc3tui.engine.gate.GATE_WAIT", 0)
    engine = new_engine(Dirs.from_environment(), interactive=False)
    manager = None
    try:
        row = await launch_running(engine, site, "wq-gate", WorkerSpec(count=2, walltime=1800))
        cluster = row.cluster
        workdir = Path(engine.sites.site(row.cluster, "wq").workdir)

        async def started() -> bool:
            return all(p.state is PilotState.RUNNING and p.stage is not None for p in await engine.pilots(cluster.id))

        while not await started():
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # long enough for any worker to try the manager's port
        assert not (workdir / "manager-listening").exists()

        manager = start_manager(row, shared_log, 2, 1)
        out, err = await asyncio.to_thread(manager.communicate, timeout=300)
        assert len(out.splitlines()) == 2, err
        assert "wrong password" not in err

        tries = [(workdir / "pilots" / p.tag / "worker.log").read_text() for p in await engine.pilots(cluster.id)]
        if gated:
            assert (workdir / "manager-listening").exists()
            assert not any("couldn't connect" in log for log in tries), tries
        else:
            assert any("couldn't connect" in log for log in tries), "without the gate a worker tries first, or this test proves nothing"

        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    finally:
        if manager and manager.poll() is None:
            manager.kill()
            manager.wait()

"""Time from launch to 8 connected Dask workers on the local SLURM: vc3tui against dask-jobqueue's
`SLURMCluster(...).scale(8)`, in one run, as the scheduler itself counts them (a client's
`wait_for_workers(8)`).

Starts the test bed (tests/testbed: its own SLURM and an sshd reaching it; needs root). vc3tui
submits over SSH as the site's user, whose builder installs dask from the wheelhouse tests/run
downloads (a first, untimed launch builds that environment, as a user's first run would);
dask-jobqueue runs on the "login node" itself, the way its documentation shows. Both schedulers
listen on loopback. Each side runs REPEATS times; medians and spread.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/dask_workers.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sites import slurm_allocation  # noqa: E402
from tests.testbed import slurm as slurm_bed  # noqa: E402
from tests.testbed import sshd as sshd_bed  # noqa: E402
from vc3tui.engine.engine import Engine  # noqa: E402
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadSpec, MiddlewareKind, WorkerSpec  # noqa: E402
from vc3tui.engine.paths import Dirs  # noqa: E402
from vc3tui.engine.states import ClusterState  # noqa: E402

WORKERS = 8
REPEATS = 3
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


def wait_for_workers(address: str) -> None:
    from distributed import Client

    with Client(address, timeout=120) as client:
        client.wait_for_workers(WORKERS, timeout=300)


async def vc3tui_once(bed, first: bool) -> float:
    engine = Engine(Dirs.from_environment(), interactive=False)
    try:
        if first:
            await slurm_allocation(engine, bed, "hpc")
        blueprint = Blueprint(
            name=f"dask-bench-{time.monotonic_ns()}",
            middleware=MiddlewareKind.DASK,
            environment=Environment(pip=["dask[distributed]"]),
            workers=WorkerSpec(count=WORKERS, walltime=1800, memory_mb=1000),
            allocations=[AllocationUse(name="hpc")],
            head=HeadSpec(listen="127.0.0.1"),
        )
        started = time.monotonic()
        cluster = await engine.launch(blueprint)
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 300)
        await asyncio.to_thread(wait_for_workers, row.cluster.head.address)
        elapsed = time.monotonic() - started
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        return elapsed
    finally:
        await engine.close()


def jobqueue_once(slurm, tmp: Path) -> float:
    from dask_jobqueue import SLURMCluster

    os.environ.update(slurm.env)
    started = time.monotonic()
    cluster = SLURMCluster(
        cores=1, processes=1, memory="1000MB", walltime="00:30:00", log_directory=str(tmp),
        scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
    )  # fmt: skip
    try:
        cluster.scale(WORKERS)
        wait_for_workers(cluster.scheduler_address)
        return time.monotonic() - started
    finally:
        cluster.close()
        slurm.cancel_everything()


def main() -> int:
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        print("Dask benchmark skipped: needs dask-jobqueue (pip install -e '.[bench]')")
        return 0
    if os.geteuid() != 0 or not any(WHEELHOUSE.glob("distributed-*.whl")):
        print("Dask benchmark skipped: needs root and the wheelhouse tests/run downloads")
        return 0
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-dask-") as tmp:
        os.environ["VC3TUI_HOME"] = str(Path(tmp) / "home")
        os.environ["HOME"] = str(Path(tmp) / "user-home")
        Path(os.environ["HOME"]).mkdir()
        slurm = slurm_bed.SlurmTestBed().start()
        bed = sshd_bed.SSHTestBed(Path(tmp) / "sshd", set_env={"SLURM_CONF": str(slurm.conf)}, mfa=False).start()
        try:
            bed.reset_user()
            pip_dir = bed.home / ".config" / "pip"
            pip_dir.mkdir(parents=True, exist_ok=True)
            for path in (bed.home / ".config", pip_dir):
                shutil.chown(path, sshd_bed.USER, sshd_bed.USER)
            bed.write_user_file(".config/pip/pip.conf", f"[global]\nno-index = true\nfind-links = {WHEELHOUSE}\n", mode=0o644)
            asyncio.run(vc3tui_once(bed, first=True))  # builds the site's environment once, untimed
            ours = [asyncio.run(vc3tui_once(bed, first=False)) for _ in range(REPEATS)]
            slurm.cancel_everything()
            theirs = [jobqueue_once(slurm, Path(tmp)) for _ in range(REPEATS)]
        finally:
            slurm.cancel_everything()
            bed.reset_user()
            bed.stop()
            slurm.stop()
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    print(f"time to {WORKERS} connected Dask workers on SLURM ({REPEATS} runs each, median [min-max])")
    print(f"  vc3tui over SSH                        {ours_median:6.2f} s  [{min(ours):.2f}-{max(ours):.2f}]")
    print(f"  dask-jobqueue SLURMCluster.scale(8)    {theirs_median:6.2f} s  [{min(theirs):.2f}-{max(theirs):.2f}]")
    print(f"  ratio vc3tui / dask-jobqueue           {ours_median / theirs_median:6.2f}   target <= 1.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time from launch to 8 connected Dask workers on the local SLURM: vc3tui against dask-jobqueue's
`SLURMCluster(...).scale(8)`, in one run, as the scheduler itself counts them (a client's
`wait_for_workers(8)`).

Starts the test bed (tests/testbed: its own SLURM and an sshd reaching it; needs root). vc3tui
submits over SSH as the site's user, whose builder installs dask from the wheelhouse tests/run
downloads (a first, untimed launch builds that environment, as a user's first run would);
dask-jobqueue runs on the "login node" itself, the way its documentation shows. Both schedulers
listen on loopback. vc3tui is timed twice: with its kept connection to the allocation already
open (as in the app, and as the baseline, already on the login node, never logs in), and with
the SSH login inside the clock (a fresh `vc3tui --run`). The sides take turns, eighteen runs each,
each repeat starting every side at the same moment of SLURM's scheduling pass (bench/beds.Pacer).

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/dask_workers.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.beds import alternate, record_times, slurm_over_ssh, time_to_workers  # noqa: E402
from bench.results import note  # noqa: E402
from tests.slurm_site import offline_pip  # noqa: E402
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadSpec, MiddlewareKind, WorkerSpec  # noqa: E402

WORKERS = 8
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


def wait_for_workers(address: str) -> None:
    from distributed import Client

    with Client(address, timeout=120) as client:
        client.wait_for_workers(WORKERS, timeout=300)


async def vc3tui_once(slurm, bed, at_start=lambda: None, *, first: bool = False, logged_in: bool = True) -> float:
    blueprint = Blueprint(
        name=f"dask-bench-{time.monotonic_ns()}",
        middleware=MiddlewareKind.DASK,
        environment=Environment(pip=["dask[distributed]"]),
        workers=WorkerSpec(count=WORKERS, walltime=1800, memory_mb=1000),
        allocations=[AllocationUse(name="hpc")],
        head=HeadSpec(listen="127.0.0.1"),
    )

    async def connected(cluster) -> None:
        await asyncio.to_thread(wait_for_workers, cluster.head.address)

    return await time_to_workers(slurm, bed, blueprint, connected, at_start=at_start, first=first, logged_in=logged_in)


def jobqueue_once(slurm, tmp: Path, at_start) -> float:
    from dask_jobqueue import SLURMCluster

    os.environ.update(slurm.env)
    at_start()
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
        note("Dask benchmark skipped: needs dask-jobqueue (pip install -e '.[bench]')")
        return 0
    if os.geteuid() != 0 or not any(WHEELHOUSE.glob("distributed-*.whl")):
        note("Dask benchmark skipped: needs root and the wheelhouse bench/run downloads")
        return 0
    with slurm_over_ssh("vc3tui-bench-dask-") as (slurm, bed, tmp):
        offline_pip(bed.home, WHEELHOUSE)
        asyncio.run(vc3tui_once(slurm, bed, first=True))  # builds the site's environment once, untimed
        ours, cold, theirs = alternate(
            slurm,
            lambda at_start: asyncio.run(vc3tui_once(slurm, bed, at_start)),
            lambda at_start: asyncio.run(vc3tui_once(slurm, bed, at_start, logged_in=False)),
            lambda at_start: jobqueue_once(slurm, tmp, at_start),
        )
    record_times('Dask', WORKERS, ours, cold, "dask-jobqueue SLURMCluster.scale(8)", theirs)
    return 0

if __name__ == "__main__":
    sys.exit(main())

"""Time from launch to 8 connected Dask workers on the local SLURM: vc3tui against dask-jobqueue's
`SLURMCluster(...).scale(8)`, in one run, as the scheduler itself counts them (a client's
`wait_for_workers(8)`).

Starts the test bed (tests/testbed: its own SLURM and an sshd reaching it; needs root). vc3tui
submits over SSH as the site's user, whose builder installs dask from the wheelhouse tests/run
downloads (a first, untimed launch builds that environment, as a user's first run would);
dask-jobqueue runs on the "login node" itself, the way its documentation shows. Both schedulers
listen on loopback. The sides take turns (bench/beds.alternate), nine runs each: medians and spread, since single runs vary by a fifth here.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/dask_workers.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.beds import alternate, slurm_over_ssh, time_to_workers  # noqa: E402
from bench.results import note, record  # noqa: E402
from tests.sites import offline_pip  # noqa: E402
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadSpec, MiddlewareKind, WorkerSpec  # noqa: E402

WORKERS = 8
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


def wait_for_workers(address: str) -> None:
    from distributed import Client

    with Client(address, timeout=120) as client:
        client.wait_for_workers(WORKERS, timeout=300)


async def vc3tui_once(slurm, bed, first: bool) -> float:
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

    return await time_to_workers(slurm, bed, blueprint, connected, first=first)


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
        note("Dask benchmark skipped: needs dask-jobqueue (pip install -e '.[bench]')")
        return 0
    if os.geteuid() != 0 or not any(WHEELHOUSE.glob("distributed-*.whl")):
        note("Dask benchmark skipped: needs root and the wheelhouse bench/run downloads")
        return 0
    with slurm_over_ssh("vc3tui-bench-dask-") as (slurm, bed, tmp):
        offline_pip(bed, WHEELHOUSE)
        asyncio.run(vc3tui_once(slurm, bed, first=True))  # builds the site's environment once, untimed
        ours, theirs = alternate(lambda: asyncio.run(vc3tui_once(slurm, bed, first=False)), lambda: jobqueue_once(slurm, tmp))
    ratio = statistics.median(ours) / statistics.median(theirs)
    record(f"time to {WORKERS} Dask workers on SLURM (vc3tui over SSH)", ours, "dask-jobqueue SLURMCluster.scale(8)", theirs,
           unit="s", target="ratio <= 1.0", met=ratio <= 1.0)  # fmt: skip
    return 0

if __name__ == "__main__":
    sys.exit(main())

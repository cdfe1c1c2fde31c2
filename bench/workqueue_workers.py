"""Time from launch to 8 connected Work Queue workers on the local SLURM: vc3tui against
`work_queue_factory -T slurm --workers-per-cycle 8`, in one run, as the manager itself counts them.

Starts the test bed (tests/testbed: its own SLURM and an sshd reaching it; needs root and cctools).
vc3tui submits over SSH as the site's user, like a user on a laptop would; the factory runs on the
"login node" itself, the way its manual shows, as that same user (a root-owned batch job skips
the user switch at every start: root would give the factory an edge no user of it has). vc3tui is
timed twice: with its kept connection to the allocation already open (as in the app; the factory,
on the login node, never logs in either) and with the SSH login inside the clock (a fresh
`vc3tui --run`). The sides take turns, eighteen runs each, each repeat starting every side at the
same moment of SLURM's scheduling pass (bench/beds.Pacer).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.beds import alternate, record_times, site_user, slurm_over_ssh, time_to_workers  # noqa: E402
from bench.results import note  # noqa: E402
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware  # noqa: E402
from vc3tui.engine.models import AllocationUse, Blueprint, HeadSpec, MiddlewareKind, WorkerSpec  # noqa: E402

WORKERS = 8
CLOCK = str(ROOT / "bench" / "wq_manager_clock.py")


def manager(port: int, password: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(["/usr/bin/python3", CLOCK, str(port), password, str(WORKERS)], stdout=subprocess.PIPE, text=True, env=env)


def connected_at(clock: subprocess.Popen[str]) -> float:
    """When the clock's manager saw its last worker connect (seconds since the epoch)."""
    out, _ = clock.communicate(timeout=300)
    return float(out)


async def vc3tui_once(slurm, bed, at_start=lambda: None, *, first: bool = False, logged_in: bool = True) -> float:
    blueprint = Blueprint(
        name=f"wq-bench-{time.monotonic_ns()}",
        middleware=MiddlewareKind.WORKQUEUE,
        workers=WorkerSpec(count=WORKERS, walltime=1800),
        allocations=[AllocationUse(name="wq")],
        head=HeadSpec(listen="127.0.0.1"),
    )

    async def connected(cluster) -> float:
        env = {**os.environ, **WorkQueueMiddleware().client_environment(cluster)}
        return await asyncio.to_thread(connected_at, manager(int(env["VC3_WQ_PORT"]), env["VC3_WQ_PASSWORD_FILE"], env))

    return await time_to_workers(slurm, bed, blueprint, connected, at_start=at_start, first=first, logged_in=logged_in)


def factory_once(slurm, at_start) -> float:
    user = site_user(slurm)
    with user.scratch("factory-") as scratch:
        password = user.file(scratch / "password", "bench-secret\n")
        port = 9123
        at_start()
        started = time.time()
        clock = manager(port, str(password))
        factory = subprocess.Popen(
            ["work_queue_factory", "-T", "slurm", "--min-workers", str(WORKERS), "--max-workers", str(WORKERS),
             "--workers-per-cycle", str(WORKERS), "--cores", "1", "--password", str(password),
             "--scratch-dir", str(scratch), "127.0.0.1", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=scratch, **user.process(),
        )  # fmt: skip
        try:
            return connected_at(clock) - started
        finally:
            factory.terminate()
            factory.wait(30)
            slurm.cancel_everything()


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("work_queue_factory") or not Path("/usr/bin/python3").exists():
        note("Work Queue benchmark skipped: needs root and cctools (tests/testbed/install-packages)")
        return 0
    with slurm_over_ssh("vc3tui-bench-wq-") as (slurm, bed, _):
        asyncio.run(vc3tui_once(slurm, bed, first=True))  # creates the allocation, untimed
        ours, cold, theirs = alternate(
            slurm,
            lambda at_start: asyncio.run(vc3tui_once(slurm, bed, at_start)),
            lambda at_start: asyncio.run(vc3tui_once(slurm, bed, at_start, logged_in=False)),
            lambda at_start: factory_once(slurm, at_start),
        )
    record_times('Work Queue', WORKERS, ours, cold, f"work_queue_factory --workers-per-cycle {WORKERS}", theirs)
    return 0

if __name__ == "__main__":
    sys.exit(main())

"""What the worker benchmarks share: the test bed's SLURM reached over its sshd, in a scratch
VC3TUI_HOME and HOME, stopped by pid however the run ends; and the side-by-side report."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sites import slurm_allocation  # noqa: E402
from tests.testbed import slurm as slurm_bed  # noqa: E402
from tests.testbed import sshd as sshd_bed  # noqa: E402
from vc3tui.engine.engine import Engine  # noqa: E402
from vc3tui.engine.models import Blueprint, Cluster  # noqa: E402
from vc3tui.engine.paths import Dirs  # noqa: E402
from vc3tui.engine.states import ClusterState  # noqa: E402


@contextmanager
def slurm_over_ssh(prefix: str) -> Iterator[tuple[slurm_bed.SlurmTestBed, sshd_bed.SSHTestBed, Path]]:
    """(SLURM, an sshd whose sessions reach it, a scratch dir); every job cancelled at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.environ["VC3TUI_HOME"] = str(Path(tmp) / "home")
        os.environ["HOME"] = str(Path(tmp) / "user-home")
        Path(os.environ["HOME"]).mkdir()
        slurm = slurm_bed.SlurmTestBed().start()
        bed = sshd_bed.SSHTestBed(Path(tmp) / "sshd", set_env={"SLURM_CONF": str(slurm.conf)}, mfa=False).start()
        try:
            bed.reset_user()
            yield slurm, bed, Path(tmp)
        finally:
            slurm.cancel_everything()
            bed.reset_user()
            bed.stop()
            slurm.stop()


async def time_to_workers(
    slurm: slurm_bed.SlurmTestBed,
    bed: sshd_bed.SSHTestBed,
    blueprint: Blueprint,
    connected: Callable[[Cluster], Awaitable[None]],
    *,
    first: bool,
) -> float:
    """Seconds from launching `blueprint` (its one allocation on the bed, created when `first`) until
    `connected(cluster)` returns, as the middleware itself counts workers; then terminated at once
    and the queue left empty, as each baseline run leaves it (a node still completing the last
    run's jobs starts the next ones later)."""
    engine = Engine(Dirs.from_environment(), interactive=False)
    try:
        if first:
            await slurm_allocation(engine, bed, blueprint.allocations[0].name)
        started = time.monotonic()
        cluster = await engine.launch(blueprint)
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 300)
        await connected(row.cluster)
        elapsed = time.monotonic() - started
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        await asyncio.to_thread(slurm.cancel_everything)
        return elapsed
    finally:
        await engine.close()


REPEATS = 9
SCHEDULER_PASS = 1.0
"""Seconds between the test bed SLURM's scheduling passes: a submitted job starts on the next one."""


def alternate(ours: Callable[[], float], theirs: Callable[[], float], repeats: int = REPEATS) -> tuple[list[float], list[float]]:
    """Both sides `repeats` times, taking turns (drift on the machine hits both alike), each run
    started at a random offset within SLURM's scheduling pass: jobs start on the next pass, so
    runs started in step with it would make one side always lucky and the other always not."""
    rng = random.Random(7)
    mine: list[float] = []
    other: list[float] = []
    for _ in range(repeats):
        for measure, into in ((ours, mine), (theirs, other)):
            time.sleep(rng.uniform(0, SCHEDULER_PASS))
            into.append(measure())
    return mine, other

"""Fork pilots on real local processes, for the tests of the pilot protocol and of what runs it:
a group of pilots, its submission, one pilot started and watched until it ends."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.interfaces import PilotShape, Submission
from vc3tui.engine.models import Pilot
from vc3tui.engine.paths import shipped_dir
from vc3tui.engine.states import PilotState
from vc3tui.engine.tags import pilot_tag

BUILDER = ["sh", str(shipped_dir("builder") / "vc3-builder")]


def pilots(n: int, start: int = 0) -> list[Pilot]:
    return [Pilot(cluster_id="0123abcd", allocation="local", index=i, tag=pilot_tag("feedfacecafe", "0123abcd", i)) for i in range(start, start + n)]


def submission(workdir: Path, group: list[Pilot], command: list[str]) -> Submission:
    return Submission(
        pilots=group,
        shape=PilotShape(cores=1, memory_mb=100, disk_mb=100, walltime=600),
        workdir=str(workdir),
        builder=[*BUILDER, "--install", str(workdir / "builder")],
        command=command,
        env={"VC3_CLUSTER": "demo; echo injected > /tmp/x"},
    )


def running(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live (not zombie) process of a process group."""
    listing = subprocess.run(["ps", "-ww", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True, check=False).stdout
    return [(int(pid), args) for pid, stat, args in (line.split(None, 2) for line in listing.splitlines()) if stat[0] != "Z"]


async def run_pilot(tmp_path: Path, cleanup: list[int], command: list[str], env: dict[str, str]):
    """One fork pilot running `command` with `env`: (its process group, a coroutine giving its status)."""
    batch, executor, group = ForkBatch(), LocalExecutor(), pilots(1)
    jobs = await batch.submit(executor, replace(submission(tmp_path, group, command), env=env))
    cleanup.extend(int(j) for j in jobs.values())
    group[0].job_id = jobs[group[0].tag]

    async def status():
        return (await batch.status(executor, group, str(tmp_path)))[group[0].tag]

    return int(group[0].job_id), status


async def started_with_keepers(tmp_path: Path, cleanup: list[int], lifetime: int = 600, worker: tuple[str, ...] = ("sleep", "90")):
    """A pilot with a maximum lifetime (so a watchdog beside its monitor)."""
    return await run_pilot(tmp_path, cleanup, list(worker), {"VC3_PILOT_LIFETIME": str(lifetime)})


def ended(status):
    async def check():
        current = await status()
        return current if current.state is not PilotState.RUNNING else None

    return check

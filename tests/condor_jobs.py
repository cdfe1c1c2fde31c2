"""A user's HTCondor jobs on a vc3tui pool's head: submitted, watched and counted with HTCondor's
own tools, in the cluster's environment, as the head's owner."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from vc3tui.engine.engine import Engine

from tests.testbed.sshd import USER

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
    """NumJobStarts of each job of cluster `job`, once all have finished and left the queue (the
    history gets a job just after its log says it terminated)."""
    script = f"condor_wait -wait 240 jobs.log {job} >/dev/null && while [ -n \"$(condor_q {job} -af ProcId)\" ]; do sleep 0.2; done && condor_history {job} -af NumJobStarts"
    return sorted(int(n) for n in (await on_head(engine, cluster_id, out, script)).split())

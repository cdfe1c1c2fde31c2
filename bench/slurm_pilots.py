"""Pilots to a real SLURM over SSH, against the ways people do it without vc3tui, in one run.

Starts the test bed (tests/testbed: its own SLURM and an sshd reaching it; needs root), then:
1. 500 pilots submitted by vc3tui over one kept SSH connection (one `sbatch --array`), against a
   local per-job `sbatch` loop (the fastest per-job way, on the login node itself) and one `ssh`
   process per pilot (timed on 50, as a rate). Targets: no slower than the local loop; over 50x
   faster than ssh-per-pilot.
2. The status round trip with 500 pilots: remote commands per allocation per cycle (target 1),
   and its time.
3. Factory CPU per cycle with 10,000 tracked pilots, on synthesised squeue and marker output
   (target < 50 ms).

    .venv/bin/python bench/slurm_pilots.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncssh  # noqa: E402

from bench.results import note, record  # noqa: E402
from tests.testbed import slurm as slurm_bed  # noqa: E402
from tests.testbed import sshd as sshd_bed  # noqa: E402
from vc3tui.engine.batch.slurm import SlurmBatch, parse_squeue  # noqa: E402
from vc3tui.engine.pilot import parse_probe  # noqa: E402
from vc3tui.engine.batch.jobs import expand  # noqa: E402
from vc3tui.engine.executors.ssh import SSHExecutor, SSHTarget  # noqa: E402
from vc3tui.engine.hostkeys import HostKeys  # noqa: E402
from vc3tui.engine.interfaces import CommandResult, PilotShape, Submission  # noqa: E402
from vc3tui.engine.keys import create_key  # noqa: E402
from vc3tui.engine.middleware.plain import PlainCommand  # noqa: E402
from vc3tui.engine.models import Pilot  # noqa: E402
from vc3tui.engine.tags import pilot_tag  # noqa: E402
from vc3tui.engine.questions import QuestionChannel  # noqa: E402
from vc3tui.engine.scaling import cluster_conditions, start_verdict  # noqa: E402
from vc3tui.engine.services import Changes  # noqa: E402
from vc3tui.engine.store import CycleWrites  # noqa: E402
from vc3tui.engine.tracking import PilotTracker  # noqa: E402
from tests.factories import cluster as cluster_model  # noqa: E402

N = 500


def pilots(count: int, cluster_id: str = "0123abcd") -> list[Pilot]:
    return [Pilot(cluster_id=cluster_id, allocation="a", index=i, tag=pilot_tag("feedfacecafe", cluster_id, i)) for i in range(count)]


class Counting:
    """Wraps an executor to count the remote commands a call makes."""

    def __init__(self, inner) -> None:
        self.inner, self.commands = inner, 0

    async def run(self, *args, **kwargs):
        self.commands += 1
        return await self.inner.run(*args, **kwargs)

    async def run_script(self, *args, **kwargs):
        self.commands += 1
        return await self.inner.run_script(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def vc3tui_submit(executor, workdir: str) -> tuple[float, dict[str, str]]:
    submission = Submission(
        pilots=pilots(N), shape=PilotShape(1, 100, 100, 600), workdir=workdir,
        builder=["true"], command=["sleep", "300"],
    )  # fmt: skip
    started = time.perf_counter()
    jobs = await SlurmBatch().submit(executor, submission)
    return time.perf_counter() - started, jobs


async def status_round_trip(executor, workdir: str, jobs: dict[str, str]) -> tuple[int, float]:
    counting = Counting(executor)
    tracked = pilots(N)
    for pilot in tracked:
        pilot.job_id = jobs[pilot.tag]
    started = time.perf_counter()
    statuses = await SlurmBatch().status(counting, tracked, workdir)
    elapsed = time.perf_counter() - started
    assert len(statuses) == N, len(statuses)
    return counting.commands, elapsed


def local_loop(env: dict[str, str], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--wrap", "sleep 300"], env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def ssh_per_pilot(bed, key: Path, known: Path, count: int) -> float:
    argv = ["ssh", "-i", str(key), "-p", str(bed.port), "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}", f"{sshd_bed.USER}@127.0.0.1"]
    started = time.perf_counter()
    for _ in range(count):
        subprocess.run([*argv, "sbatch", "--parsable", "--output=/dev/null", "--wrap", "'sleep 300'"], capture_output=True, check=True)
    return time.perf_counter() - started


class Synthetic:
    """A stand-in executor that answers the status script with synthesised output (CPU bench only)."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def run_script(self, script: str, *, timeout=None) -> CommandResult:
        return CommandResult(("sh",), 0, self.text, "")


def factory_cpu(count: int = 10_000) -> list[float]:
    tracked = pilots(count)
    prefix = tracked[0].tag.rsplit("-", 1)[0]
    squeue = "".join(
        f"777_{i}|{'RUNNING' if i % 3 else 'PENDING'}|None|vc3tui {prefix} 0-{count - 1}|node{i % 50}\n" for i in range(count)
    )
    markers = "".join(f"{p.tag} - 0 worker_started - node{p.index % 50}\n" for p in tracked)
    executor = Synthetic(f"{squeue}@@vc3tui-squeue-status 0\n{markers}")
    cluster = cluster_model(count=count)
    tracker = PilotTracker(sites=None, middleware=PlainCommand(), changes=Changes(bus=None))  # no site, no manager: nothing to ask
    batch = SlurmBatch()

    async def cycle() -> float:
        started = time.process_time()
        statuses = await batch.status(executor, tracked, "/w")
        for pilot in tracked:
            tracker.apply(cluster, pilot, statuses[pilot.tag])
        await tracker.mark_joined(cluster, tracked)
        start_verdict({}, tracked, ["local"], time.time())
        cluster_conditions(cluster, tracked, count, {}, "", time.time())
        tracker.changes.writes = CycleWrites()
        return time.process_time() - started

    async def cycles() -> tuple[float, list[float]]:
        first = await cycle()  # every pilot changes: queued -> running / adopted
        return first, [await cycle() for _ in range(5)]

    return asyncio.run(cycles())


def squeue_alone(env: dict[str, str]) -> float:
    """What a user's own status check costs: one local `squeue -r` of the same jobs."""
    started = time.perf_counter()
    subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%r|%k|%N"], env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def parse_alone(count: int = 10_000) -> float:
    """The irreducible part of a cycle at `count` pilots: parsing the queue's and markers' text."""
    tracked = pilots(count)
    prefix = tracked[0].tag.rsplit("-", 1)[0]
    squeue = "".join(f"777_{i}|RUNNING|None|vc3tui {prefix} 0-{count - 1}|node{i % 50}\n" for i in range(count))
    markers = "".join(f"{p.tag} - 0 worker_started - node{p.index % 50}\n" for p in tracked)
    expand.cache_clear()
    started = time.process_time()
    parse_squeue(squeue, {prefix})
    parse_probe(markers)
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    args = parser.parse_args()
    steady = [t * 1000 for _ in range(args.repeats) for t in factory_cpu()[1]]
    parsing = [parse_alone() * 1000 for _ in range(len(steady))]
    record("factory CPU per cycle, 10,000 pilots", steady, "parsing its squeue and marker output alone", parsing, unit="ms",
           target="< 50 ms", met=statistics.median(steady) < 50)  # fmt: skip
    reasons = [r for r in (slurm_bed.usable(), sshd_bed.usable()) if r]
    if reasons:
        note(f"SLURM benchmarks skipped: {reasons[0]}")
        return 0
    ours, loops, per_ssh, status_times, squeue_times, commands = [], [], [], [], [], set()
    per_ssh_n = 50
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-slurm-") as tmp:
        slurm = slurm_bed.SlurmTestBed().start()
        bed = sshd_bed.SSHTestBed(Path(tmp) / "sshd", set_env={"SLURM_CONF": str(slurm.conf)}, mfa=False).start()
        try:
            pair = create_key(Path(tmp), "bench", "127.0.0.1")
            bed.write_user_file(".ssh/authorized_keys", pair.public_line + "\n")
            host = (bed.root / "host_ed25519.pub").read_text().split()
            known = Path(tmp) / "known_hosts"
            known.write_text(f"[127.0.0.1]:{bed.port} {host[0]} {host[1]}\n")
            fingerprint = asyncssh.import_public_key(" ".join(host[:2])).get_fingerprint("sha256")
            workdir = f"{bed.home}/.vc3tui/bench"

            async def over_ssh() -> tuple[float, int, float]:
                target = SSHTarget(host="127.0.0.1", port=bed.port, login=sshd_bed.USER, key_path=pair.private, accept_host_key=fingerprint)
                executor = SSHExecutor(target, HostKeys(known, Path("/dev/null")), QuestionChannel(interactive=False))
                await executor.run(["true"])
                submit_time, jobs = await vc3tui_submit(executor, workdir)
                count, status_time = await status_round_trip(executor, workdir, jobs)
                await executor.close()
                return submit_time, count, status_time

            for _ in range(args.repeats):
                submit_time, count, status_time = asyncio.run(over_ssh())
                ours.append(submit_time)
                commands.add(count)
                status_times.append(status_time)
                squeue_times.append(squeue_alone(slurm.env))
                slurm.cancel_everything()
                loops.append(local_loop(slurm.env, N))
                slurm.cancel_everything()
                per_ssh.append(ssh_per_pilot(bed, pair.private, known, per_ssh_n) * N / per_ssh_n)
                slurm.cancel_everything()
        finally:
            bed.stop()
            slurm.stop()
    loop_ratio = statistics.median(ours) / statistics.median(loops)
    record(f"{N} pilots to SLURM, vc3tui over SSH (one array)", ours, "local per-job sbatch loop", loops, unit="s",
           target="ratio <= 1.0", met=loop_ratio <= 1.0)  # fmt: skip
    ssh_ratio = statistics.median(ours) / statistics.median(per_ssh)
    record(f"{N} pilots to SLURM, vc3tui over SSH (one array)", ours, f"one ssh process per pilot (timed on {per_ssh_n}, x{N // per_ssh_n})", per_ssh,
           unit="s", target="ratio < 0.02 (over 50x faster)", met=ssh_ratio < 0.02)  # fmt: skip
    record(f"status round trip at {N} pilots (queue + markers)", status_times, "one local squeue -r of the same jobs", squeue_times,
           unit="s", target="1 remote command per allocation per cycle", met=commands == {1})  # fmt: skip
    note(f"the status round trip made {', '.join(map(str, sorted(commands)))} remote command(s) per allocation per cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())

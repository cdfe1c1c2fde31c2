"""What the worker benchmarks share: the test bed's SLURM reached over its sshd, in a scratch
VC3TUI_HOME and HOME, stopped by pid however the run ends; and the side-by-side report."""

from __future__ import annotations

import asyncio
import os
import pwd
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import note, paired_ratio, record  # noqa: E402
from tests.slurm_site import slurm_allocation  # noqa: E402
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
        slurm = slurm_bed.SlurmTestBed(scheduler="sched/builtin").start()
        bed = sshd_bed.SSHTestBed(Path(tmp) / "sshd", set_env={"SLURM_CONF": str(slurm.conf)}, mfa=False).start()
        try:
            bed.reset_user()
            yield slurm, bed, Path(tmp)
        finally:
            slurm.cancel_everything()
            bed.reset_user()
            bed.stop()
            slurm.stop()


@dataclass(frozen=True)
class SiteUser:
    """The test bed's site account, for a baseline run on the "login node" as a user runs it there:
    its batch jobs are that user's, like vc3tui's pilots, not root's."""

    account: pwd.struct_passwd
    slurm_env: dict[str, str]

    def process(self) -> dict:
        """subprocess.Popen arguments that run a command as the user, with a login's environment."""
        home = self.account.pw_dir
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "USER": self.account.pw_name,
               "LOGNAME": self.account.pw_name, "SHELL": "/bin/sh", **self.slurm_env}  # fmt: skip
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": [], "env": env}

    @contextmanager
    def scratch(self, prefix: str) -> Iterator[Path]:
        """A dir of the user's own in their home, removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.account.pw_dir))
        try:
            shutil.chown(path, self.account.pw_uid, self.account.pw_gid)
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def file(self, path: Path, text: str) -> Path:
        """`text` in a file only the user (and root) can read."""
        path.write_text(text)
        path.chmod(0o600)
        shutil.chown(path, self.account.pw_uid, self.account.pw_gid)
        return path


def site_user(slurm: slurm_bed.SlurmTestBed) -> SiteUser:
    return SiteUser(pwd.getpwnam(sshd_bed.USER), dict(slurm.env))


async def time_to_workers(
    slurm: slurm_bed.SlurmTestBed,
    bed: sshd_bed.SSHTestBed,
    blueprint: Blueprint,
    connected: Callable[[Cluster], Awaitable[float | None]],
    *,
    at_start: Callable[[], None] = lambda: None,
    first: bool = False,
    logged_in: bool = True,
) -> float:
    """Seconds from launching `blueprint` (its one allocation on the bed, created when `first`) until
    `connected(cluster)` returns, as the middleware itself counts workers, or until the moment it
    returns (seconds since the epoch) when the middleware stamps its workers itself; then terminated at once
    and the queue left empty, as each baseline run leaves it (a node still completing the last
    run's jobs starts the next ones later).

    `at_start` is called just before the clock starts (bench.beds.alternate's pacing).
    `logged_in`: the allocation's kept connection is open when the clock starts, as in the app once
    the allocation was validated or used, and as the baselines, which run on the login node itself,
    never log in either. Without it the launch includes the SSH login (and the site's PAM session),
    as a fresh `vc3tui --run` does."""
    engine = Engine(Dirs.from_environment(), interactive=False)
    try:
        name = blueprint.allocations[0].name
        if first:
            await slurm_allocation(engine, bed, name)
        if logged_in:
            await engine.access.executor(await engine.allocation(name)).run(["true"])
        await asyncio.to_thread(at_start)
        started = time.time()
        cluster = await engine.launch(blueprint)
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 300)
        elapsed = (await connected(row.cluster) or time.time()) - started
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        await asyncio.to_thread(slurm.cancel_everything)
        return elapsed
    finally:
        await engine.close()


REPEATS = 18
"""Repeats of each side, each at its own moment of the pass (evenly spread). A pair's two times
differ by a few hundredths of a second either way, more than the sides differ on the whole, so the
paired ratio needs this many pairs to be steady."""
SCHEDULER_PASS = 1.0
"""Seconds between the test bed SLURM's scheduling passes, about (pass_period measures it)."""


class Pacer:
    """Starts every run at a chosen moment of SLURM's scheduling pass. Jobs start only on the first
    pass after their submission, and the passes come once a second, so where in the pass a run
    starts decides up to a second of its time: far more than what is compared. Each repeat picks
    one moment (the repeats together cover the pass evenly) and every side starts at that same
    moment, so the pass's luck is the same for all, and what remains is each side's own speed.

    The log shows a pass only when it starts jobs, and the period wavers with the scheduler's own
    work (a few ms a pass): foreseen from a pass seconds old, a start could be off by a tenth of a
    second, more for the side that runs longest after the last jobs started. So a pass is made
    visible just before each start, by a job that runs `true` (TICK_NAME)."""

    def __init__(self, slurm: slurm_bed.SlurmTestBed) -> None:
        self.slurm = slurm

    def wait(self, phase: float) -> None:
        """Sleep until `phase` (0 to 1) of the pass after the tick job's (whose start is then over)."""
        passes = self.fresh_passes()
        if not passes:
            return
        period = pass_period(passes)
        time.sleep(max(0.0, passes[-1] + (1 + phase) * period - time.time()))

    def fresh_passes(self) -> list[float]:
        """The passes the log shows, the last of them just now (after a tick job's)."""
        seen = len(self.slurm.scheduling_passes())
        subprocess.run(["sbatch", "--quiet", f"--job-name={TICK_NAME}", "--output=/dev/null", "--wrap=true"], env=self.slurm.env, check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            passes = self.slurm.scheduling_passes()
            if len(passes) > seen:
                return passes
            time.sleep(0.02)
        return self.slurm.scheduling_passes()


TICK_NAME = "vc3tui-bench-tick"
"""The job that shows the pacer a pass: no side's job, and over in a few ms."""


def pass_period(passes: list[float]) -> float:
    """The scheduler's period: about SCHEDULER_PASS, a little more (its own work adds to each
    sleep), measured between the passes the log shows, so the next one is foreseen to a few ms."""
    distinct = sorted({round(t, 2) for t in passes})
    periods = []
    for earlier, later in zip(distinct, distinct[1:]):
        gap = later - earlier
        if 0.5 < gap < 60:
            periods.append(gap / round(gap / SCHEDULER_PASS))
    return statistics.median(periods) if periods else SCHEDULER_PASS


def alternate(slurm: slurm_bed.SlurmTestBed, *measures: Callable[[Callable[[], None]], float], repeats: int = REPEATS) -> list[list[float]]:
    """Every measure `repeats` times, taking turns (drift on the machine hits all alike). A measure
    is given `at_start`, to call just before it starts its clock: it returns at this repeat's
    moment of SLURM's scheduling pass (Pacer), the same for every side. Each repeat's times are
    printed as it ends, side by side in the order of `measures`."""
    pacer = Pacer(slurm)
    phases = [(i + 0.5) / repeats for i in range(repeats)]
    random.Random(7).shuffle(phases)
    samples: list[list[float]] = [[] for _ in measures]
    for phase in phases:
        for measure, into in zip(measures, samples):
            into.append(measure(lambda: pacer.wait(phase)))
        print(f"  at {phase:.2f} of the pass: " + "  ".join(f"{into[-1]:.3f} s" for into in samples), flush=True)
    return samples


def record_times(middleware: str, workers: int, logged_in: list[float], cold: list[float], baseline_name: str, baseline: list[float]) -> None:
    """vc3tui's two times to `workers` workers beside the baseline's, each with the target of
    being no slower: the paired ratio (every repeat's runs started at the same moment of the pass)
    at most 1.0. The ratio of the medians compares one repeat of each side (the median's moment
    of the pass: the pass, not the tool, decides which), so it is noted beside it, as are the means."""
    for what, samples in (
        (f"time to {workers} {middleware} workers on SLURM (vc3tui over SSH)", logged_in),
        (f"time to {workers} {middleware} workers, SSH login in the clock", cold),
    ):
        record(what, samples, baseline_name, baseline, unit="s", target="ratio <= 1.0", met=paired_ratio(samples, baseline) <= 1.0, paired=True)
    medians = ", ".join(f"{name} {statistics.median(samples) / statistics.median(baseline):.3g}" for name, samples in (("vc3tui", logged_in), ("with the login", cold)))
    note(f"{middleware}: ratio of the medians (each one repeat's time, at the moment of the pass the median falls on): {medians}")
    # the repeats cover the pass evenly, so their mean is the wait from a launch at a random moment,
    # seconds lost to a worker's backoff included
    means = ", ".join(f"{name} {statistics.mean(samples):.3f} s" for name, samples in (("vc3tui", logged_in), ("with the login", cold), (baseline_name, baseline)))
    note(f"{middleware}: mean over the pass's moments (the wait from a launch at a random moment): {means}")

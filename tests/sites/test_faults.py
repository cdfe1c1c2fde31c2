"""Faults on the real test bed: the site's sshd restarted mid-cycle, the connection cut while a
submission's reply is on its way, slurmctld down and back, the engine killed -9 at random moments
of a 200-pilot launch, a lease holder killed while another process waits. After each the cluster
converges to the requested count with no duplicate pilot, a fault shows as a reason (never a
traceback), and terminate leaves no job. The long runs (slurmctld's outages, a lone site silent
past the head timeout, 40 kills) carry the `soak` marker: not in CI, whose time they would pass;
a site away and back is in CI through tests/sites/test_two_sites.py."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from tests import ROOT
from tests.factories import command_blueprint
from tests.processes import leftovers
from tests.slurm_site import our_jobs, slurm_allocation
from tests.waiting import wait_until_async, wait_until_awaited
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState, PilotState

pytestmark = pytest.mark.timeout(900)


def sleepers(name: str, count: int, allocation: str) -> Blueprint:
    return Blueprint(name=name, middleware=MiddlewareKind.NONE, workers=WorkerSpec(count=count, walltime=1800, command=["sleep", "900"]),
                     allocations=[AllocationUse(name=allocation)])  # fmt: skip


def distinct_jobs(slurm, cluster_id: str) -> list[str]:
    """Our live jobs as SLURM lists them, one per array task; a duplicate would show twice."""
    return [job for job, state, _ in our_jobs(slurm, cluster_id) if state in ("PENDING", "RUNNING", "CONFIGURING")]


async def live_pilots(engine: Engine, cluster_id: str, ready, what: str, timeout: float = 240) -> list:
    """Poll the store until the cluster's live pilots satisfy `ready`."""
    deadline = time.monotonic() + timeout
    while True:
        pilots = [p for p in await engine.pilots(cluster_id) if not p.state.ended]
        if ready(pilots):
            return pilots
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {[(p.index, p.state, p.job_id, p.reason) for p in pilots]}")
        await asyncio.sleep(0.5)


async def converged(engine: Engine, slurm, cluster_id: str, count: int, timeout: float = 240) -> None:
    """`count` live pilots, each with its own job, and exactly those jobs in the queue."""
    def ready(pilots) -> bool:
        return len(pilots) == count and all(p.job_id and p.state in (PilotState.QUEUED, PilotState.RUNNING) for p in pilots)

    pilots = await live_pilots(engine, cluster_id, ready, f"{count} submitted pilots", timeout)
    jobs = distinct_jobs(slurm, cluster_id)
    assert len({p.tag for p in pilots}) == count
    assert sorted(p.job_id for p in pilots) == sorted(jobs), "every live pilot is exactly one job"
    assert len(set(jobs)) == len(jobs) == count


async def terminated(engine: Engine, slurm, cluster_id: str) -> None:
    await engine.terminate(cluster_id, peaceful=False)
    await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
    assert our_jobs(slurm, cluster_id) == []


def no_tracebacks(events) -> None:
    assert not [e.message for e in events if "Traceback" in e.message]


async def test_the_sites_sshd_restarted_mid_cycle(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "far")
    cluster = await engine.launch(sleepers("restarted", 4, "far"))
    await converged(engine, slurm, cluster.id, 4)
    site.restart()
    await engine.resize(cluster.id, 6)
    await converged(engine, slurm, cluster.id, 6)
    no_tracebacks(await engine.cluster_events(cluster.id))
    await terminated(engine, slurm, cluster.id)


SLOW_REPLY = """#!/bin/sh
# the site's sbatch, answering slowly: the job is queued at once, its reply comes 4 s later
out=$({sbatch} "$@"); status=$?
touch "$HOME/submitted"
sleep 4
printf '%s\\n' "$out"
exit $status
"""


async def test_the_connection_cut_while_a_submissions_reply_is_on_its_way(site, slurm, engine: Engine) -> None:
    try:
        await slurm_allocation(engine, site, "far")
        (site.home / "bin").mkdir(exist_ok=True)
        shutil.chown(site.home / "bin", "vc3test", "vc3test")
        site.write_user_file("bin/sbatch", SLOW_REPLY.format(sbatch=shutil.which("sbatch")), mode=0o755)
        site.write_user_file(".bashrc", 'export PATH="$HOME/bin:$PATH"\n', mode=0o644)
        (site.home / "submitted").unlink(missing_ok=True)  # an earlier run's would pass the wait below at once
        cluster = await engine.launch(sleepers("cut", 5, "far"))
        await wait_until_async(lambda: (site.home / "submitted").exists(), 120, "the job queued, its reply not yet sent")
        for pid in site.connection_children():
            os.kill(pid, signal.SIGKILL)
        await converged(engine, slurm, cluster.id, 5)
        jobs = distinct_jobs(slurm, cluster.id)
        assert len({job.split("_")[0] for job in jobs}) == 1, "the array was adopted, not submitted again"
        await terminated(engine, slurm, cluster.id)
    finally:
        shutil.rmtree(site.home / "bin", ignore_errors=True)
        (site.home / "submitted").unlink(missing_ok=True)


@pytest.mark.parametrize("outage", [pytest.param(10, id="10s", marks=pytest.mark.soak), pytest.param(60, id="60s", marks=pytest.mark.soak)])
async def test_slurmctld_down_and_back(site, slurm, outage: int, engine: Engine) -> None:
    down = False
    try:
        await slurm_allocation(engine, site, "far")
        cluster = await engine.launch(sleepers("outage", 4, "far"))
        await converged(engine, slurm, cluster.id, 4)
        before = {p.tag: p.job_id for p in await engine.pilots(cluster.id)}
        slurm.stop_controller()
        down = True
        pilots = await live_pilots(engine, cluster.id, lambda ps: all(p.state is PilotState.UNKNOWN for p in ps), "every pilot unknown", 60)
        assert len(pilots) == 4 and all("status query failed" in p.reason for p in pilots), [p.reason for p in pilots]
        deadline = time.monotonic() + outage
        while time.monotonic() < deadline:
            pilots = await engine.pilots(cluster.id)
            assert len(pilots) == 4 and not any(p.state in (PilotState.LOST, PilotState.FAILED) for p in pilots)
            await asyncio.sleep(1)
        slurm.start_controller()
        down = False
        await converged(engine, slurm, cluster.id, 4)
        assert {p.tag: p.job_id for p in await engine.pilots(cluster.id)} == before, "the same pilots came back, none replaced"
        no_tracebacks(await engine.cluster_events(cluster.id))
        await terminated(engine, slurm, cluster.id)
    finally:
        if down:
            slurm.start_controller()


@pytest.mark.soak
async def test_the_only_site_silent_past_the_head_timeout_asks_for_nothing_new(site, slurm, engine: Engine) -> None:
    """Its share has nowhere to go: no intent piles up while it is away, and it is tracked again after."""
    await slurm_allocation(engine, site, "far")
    blueprint = sleepers("silent", 4, "far")
    cluster = await engine.launch(blueprint.model_copy(update={"workers": blueprint.workers.model_copy(update={"head_timeout": 5})}))
    await converged(engine, slurm, cluster.id, 4)
    slurm.stop_controller()
    try:
        await wait_until_awaited(
            lambda: engine_said(engine, cluster.id, "allocation far has not answered for"), 90, "the site backed off"
        )
        await asyncio.sleep(3)  # several cycles with every site away
        assert len(await engine.pilots(cluster.id)) == 4, "nothing new asked for"
    finally:
        slurm.start_controller()
    await converged(engine, slurm, cluster.id, 4)
    assert await engine_said(engine, cluster.id, "allocation far answers again after")
    await terminated(engine, slurm, cluster.id)


async def engine_said(engine: Engine, cluster_id: str, start: str) -> bool:
    return any(e.message.startswith(start) for e in await engine.cluster_events(cluster_id, limit=1000))


def run_blueprint(path: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vc3tui", "--run", str(path), "--no-input"], cwd=ROOT,
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)  # fmt: skip


@pytest.mark.parametrize("kills", [pytest.param(5, id="5-kills"), pytest.param(40, id="40-kills", marks=pytest.mark.soak)])
async def test_the_engine_killed_at_random_moments_of_a_200_pilot_launch(site, slurm, tmp_path: Path, kills: int, engine: Engine, new_engine: Callable[..., Engine]) -> None:
    seed = int(os.environ.get("VC3TUI_FAULT_SEED", time.time_ns() % 10**6))
    print(f"kill moments from seed {seed} (VC3TUI_FAULT_SEED={seed} repeats them)")
    rng = random.Random(seed)
    await slurm_allocation(engine, site, "far")
    await engine.close()
    blueprint = tmp_path / "big.toml"
    blueprint.write_text(tomlkit.dumps(sleepers("big", 200, "far").model_dump(mode="json", exclude_defaults=True, exclude_none=True)
                                       | {"middleware": "none", "allocations": [{"name": "far"}]}))  # fmt: skip
    log = tmp_path / "runs.log"
    for _ in range(kills):
        process = run_blueprint(blueprint, log)
        time.sleep(rng.uniform(0.5, 4.0))
        process.kill()
        process.wait()
    final = run_blueprint(blueprint, log)
    engine = new_engine(Dirs.from_environment(), interactive=False)
    try:
        cluster = await engine.live_cluster("big")
        await converged(engine, slurm, cluster.id, 200, timeout=300)
        assert len(await engine.pilots(cluster.id)) == 200, "no second intent for any pilot"
        await engine.terminate(cluster.id, peaceful=False)
        assert final.wait(timeout=300) == 0
        assert our_jobs(slurm, cluster.id) == []
    finally:
        if final.poll() is None:
            final.kill()
        await engine.close()
    assert "Traceback" not in log.read_text()


LEASED = command_blueprint("leased", ["sleep", "300"], count=2, walltime="10m")


async def test_the_lease_changes_hands_cleanly_when_its_holder_dies(cluster_home: Path, tmp_path: Path, new_engine: Callable[..., Engine]) -> None:
    blueprint = tmp_path / "leased.toml"
    blueprint.write_text(LEASED)
    log = tmp_path / "runs.log"
    first = run_blueprint(blueprint, log)
    app_engine = new_engine(Dirs.from_environment(), interactive=False)
    taker = None
    try:
        while (cluster := await app_engine.live_cluster("leased")) is None:
            await asyncio.sleep(0.2)
        await live_pilots(app_engine, cluster.id, lambda ps: len(ps) == 2 and all(p.state is PilotState.RUNNING for p in ps), "two pilots under the first process", 120)
        refused = subprocess.run([sys.executable, "-m", "vc3tui", "cluster", "manage", "leased"], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert refused.returncode == 2 and "managed by another live process" in refused.stderr
        for count in [3, 2] * 25:  # the app's keystrokes while the headless run cycles
            await app_engine.resize(cluster.id, count)
            await app_engine.cluster_rows()
        first.send_signal(signal.SIGKILL)
        first.wait()
        taker = subprocess.Popen([sys.executable, "-m", "vc3tui", "--no-input", "cluster", "manage", "leased"], cwd=ROOT,
                                 stdout=open(log, "a"), stderr=subprocess.STDOUT)  # fmt: skip
        await app_engine.resize(cluster.id, 3)
        await app_engine.wait_for(cluster.id, lambda r: r.counts.running == 3, 120)
        assert len({p.tag for p in await app_engine.pilots(cluster.id)}) == len(await app_engine.pilots(cluster.id))
        await app_engine.terminate(cluster.id, peaceful=False)
        assert taker.wait(timeout=120) == 0
    finally:
        for process in (first, taker):
            if process is not None and process.poll() is None:
                process.kill()
        await app_engine.close()
    with sqlite3.connect(cluster_home / "data" / "vc3tui.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert leftovers(cluster_home) == {}
    assert "Traceback" not in log.read_text()


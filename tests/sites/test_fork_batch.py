"""The fork batch system on real processes: submit, status from markers, cancel, failure, loss."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from vc3tui.engine import pilot as wrapper
from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.pilot import KEEPER_DELAY, Markers, PILOT_TAG, WATCHDOG_CHECK, parse_probe, render_probe, render_wrapper
from vc3tui.engine.batch.jobs import DIRS_PER_MKDIR, stage_and_submit
from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.states import PilotStage, PilotState

from tests.fork_pilots import BUILDER, ended, pilots, running, started_with_keepers, submission
from tests.processes import alive, group_members
from tests.waiting import wait_until_awaited as wait_for

pytestmark = pytest.mark.timeout(120)


async def test_submit_status_and_cancel(tmp_path: Path, cleanup: list[int]) -> None:
    batch, executor, group = ForkBatch(), LocalExecutor(), pilots(3)
    jobs = await batch.submit(executor, submission(tmp_path, group, ["sh", "-c", f"echo $VC3_CLUSTER > {tmp_path}/env-{PILOT_TAG}; sleep 60"]))
    cleanup.extend(int(j) for j in jobs.values())
    assert set(jobs) == {p.tag for p in group}
    for p in group:
        p.job_id = jobs[p.tag]

    async def all_started():
        statuses = await batch.status(executor, group, str(tmp_path))
        return statuses if all(s.stage is PilotStage.WORKER_STARTED for s in statuses.values()) else None

    statuses = await wait_for(all_started)
    assert {s.state for s in statuses.values()} == {PilotState.RUNNING}
    assert all(s.host for s in statuses.values())
    for p in group:
        env_file = tmp_path / f"env-{p.tag}"

        async def written(env_file: Path = env_file) -> bool:
            return env_file.exists() and env_file.read_text().endswith("\n")

        await wait_for(written)
        assert env_file.read_text() == "demo; echo injected > /tmp/x\n"
        assert alive(int(p.job_id)) and os.getpgid(int(p.job_id)) == int(p.job_id)

    await batch.cancel(executor, group[:2])

    async def cancelled():
        statuses = await batch.status(executor, group, str(tmp_path))
        return statuses if all(statuses[p.tag].state is PilotState.DONE for p in group[:2]) else None

    statuses = await wait_for(cancelled)
    assert statuses[group[0].tag].reason == "cancelled" and statuses[group[0].tag].exit_code == 143
    assert statuses[group[2].tag].state is PilotState.RUNNING
    assert group_members(int(group[0].job_id), group[0].tag) == []


async def test_failure_keeps_exit_status_and_stage(tmp_path: Path, cleanup: list[int]) -> None:
    batch, executor, group = ForkBatch(), LocalExecutor(), pilots(1)
    jobs = await batch.submit(executor, submission(tmp_path, group, ["sh", "-c", "echo boom >&2; exit 3"]))
    cleanup.extend(int(j) for j in jobs.values())
    group[0].job_id = jobs[group[0].tag]

    async def ended():
        status = (await batch.status(executor, group, str(tmp_path)))[group[0].tag]
        return status if status.state is not PilotState.RUNNING else None

    status = await wait_for(ended)
    assert (status.state, status.exit_code, status.stage) == (PilotState.FAILED, 3, PilotStage.WORKER_STARTED)
    assert "boom" in (tmp_path / "pilots" / group[0].tag / "worker.log").read_text()


async def test_builder_failure_is_reported_at_its_stage(tmp_path: Path, cleanup: list[int]) -> None:
    batch, executor, group = ForkBatch(), LocalExecutor(), pilots(1)
    sub = submission(tmp_path, group, ["true"])
    sub = replace(sub, builder=[*sub.builder, "--require", "python:99"])
    jobs = await batch.submit(executor, sub)
    cleanup.extend(int(j) for j in jobs.values())
    group[0].job_id = jobs[group[0].tag]

    async def ended():
        status = (await batch.status(executor, group, str(tmp_path)))[group[0].tag]
        return status if status.state is PilotState.FAILED else None

    assert (await wait_for(ended)).stage is PilotStage.BUILDING
    assert "could not add python:99 (for the command line): available: " in (tmp_path / "pilots" / group[0].tag / "build.log").read_text()


async def test_killed_pilot_without_exit_marker_is_lost_and_unknown_tags_are_absent(tmp_path: Path, cleanup: list[int]) -> None:
    batch, executor, group = ForkBatch(), LocalExecutor(), pilots(1)
    jobs = await batch.submit(executor, submission(tmp_path, group, ["sleep", "60"]))
    pgid = int(jobs[group[0].tag])
    cleanup.append(pgid)
    group[0].job_id = str(pgid)
    os.killpg(pgid, signal.SIGKILL)

    async def lost():
        status = (await batch.status(executor, group, str(tmp_path)))[group[0].tag]
        return status if status.state is PilotState.LOST else None

    await wait_for(lost)
    never = pilots(1, start=7)
    assert await batch.status(executor, never, str(tmp_path)) == {}


async def test_a_reused_pid_is_not_our_pilot(tmp_path: Path) -> None:
    """The probe checks the tag on the process's command line, not only that the pid exists."""
    (tmp_path / "pilots" / "vc3-feedfacecafe-0123abcd-0").mkdir(parents=True)
    (tmp_path / "pilots" / "vc3-feedfacecafe-0123abcd-0" / "pid").write_text(f"{os.getpid()}\n")
    status = await ForkBatch().status(LocalExecutor(), pilots(1), str(tmp_path))
    assert status["vc3-feedfacecafe-0123abcd-0"].state is PilotState.LOST


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_the_probe_needs_no_program_but_the_shell(tmp_path: Path, shell: str) -> None:
    """A poll reads every pilot's markers with shell builtins (no process per pilot): with an empty
    PATH it still tells a live pilot, a dead one, a reused pid, one without a pid and a missing one."""
    live, dead, reused, unstarted, missing = (p.tag for p in pilots(5))
    runner = subprocess.Popen(["sh", "-c", "sleep 60", live])
    try:
        markers = {
            live: {"pid": f"{runner.pid}\n", "stage": "worker_started\n", "host": "node7\n"},
            dead: {"pid": "999999999\n", "stage": "ready\n", "exit": "3\n", "host": "node8\n"},
            reused: {"pid": f"{os.getpid()}\n", "stage": "ready\n"},
            unstarted: {},
        }
        for tag, files in markers.items():
            (tmp_path / tag).mkdir()
            for name, text in files.items():
                (tmp_path / tag / name).write_text(text)
        script = render_probe(str(tmp_path), {tag: None for tag in (live, dead, reused, unstarted, missing)})
        result = subprocess.run([shutil.which(shell), "-s"], input=script, capture_output=True, text=True, env={"PATH": str(tmp_path / "empty")}, timeout=30)
    finally:
        runner.kill()
        runner.wait()
    assert result.returncode == 0 and result.stderr == ""
    found = parse_probe(result.stdout)
    assert found[live] == Markers(live, exists=True, pid=runner.pid, alive=True, stage=PilotStage.WORKER_STARTED, host="node7")
    assert found[dead] == Markers(dead, exists=True, pid=999999999, alive=False, stage=PilotStage.READY, exit_code=3, host="node8")
    assert found[reused].exists and not found[reused].alive
    assert found[unstarted] == Markers(unstarted, exists=True)
    assert found[missing] == Markers(missing, exists=False)


def test_probe_output_that_does_not_parse_is_ignored() -> None:
    found = parse_probe("garbage\nvc3-a-b-1 123 1 ready - host1\nvc3-a-b-2 none\nvc3-a-b-3 x 0 weird 7 -\n")
    assert found["vc3-a-b-1"].alive and found["vc3-a-b-1"].stage is PilotStage.READY
    assert not found["vc3-a-b-2"].exists
    assert found["vc3-a-b-3"].pid is None and found["vc3-a-b-3"].stage is None and found["vc3-a-b-3"].exit_code == 7
    assert "garbage" not in found


async def test_pilot_ends_itself_at_its_maximum_lifetime(tmp_path: Path, cleanup: list[int]) -> None:
    pgid, status = await started_with_keepers(tmp_path, cleanup, lifetime=1)
    stopped = await wait_for(ended(status), timeout=20)
    assert (stopped.state, stopped.exit_code, stopped.reason) == (PilotState.DONE, 124, "reached its maximum lifetime")
    await asyncio.sleep(0.5)
    assert running(pgid) == [], "the watchdog and the worker are gone too"


async def test_a_signal_that_ends_the_keeper_delay_stops_the_pilot(tmp_path: Path, cleanup: list[int]) -> None:
    """A cancelled job's processes are signalled one by one: when the keepers' delay goes first, the
    pilot stops there instead of starting keepers after the batch system's pass (they would outlive
    the job)."""
    pgid, status = await started_with_keepers(tmp_path, cleanup)

    async def delay():
        return [pid for pid, args in running(pgid) if args == f"sleep {KEEPER_DELAY}"]

    os.kill((await wait_for(delay))[0], signal.SIGTERM)
    stopped = await wait_for(ended(status), timeout=20)
    assert (stopped.state, stopped.exit_code, stopped.reason) == (PilotState.DONE, 143, "cancelled")
    await asyncio.sleep(0.5)
    assert running(pgid) == []


async def test_a_signal_to_the_wrapper_alone_ends_its_keepers(tmp_path: Path, cleanup: list[int]) -> None:
    """Batch systems that signal only the job's first process (or only its shell) leave no keeper behind."""
    pgid, status = await started_with_keepers(tmp_path, cleanup)
    watchdog = f"sleep {WATCHDOG_CHECK}"

    async def keepers():
        commands = [args for _, args in running(pgid)]
        return watchdog in commands and any("/monitor-" in args for args in commands)

    await wait_for(keepers)
    os.kill(pgid, signal.SIGTERM)
    stopped = await wait_for(ended(status), timeout=20)
    assert stopped.exit_code == 143
    await asyncio.sleep(0.5)
    assert running(pgid) == []


async def test_a_submission_makes_every_pilot_dir(tmp_path: Path) -> None:
    """Made at submission, in lines of at most DIRS_PER_MKDIR names, in the same round trip as the submit."""
    group = pilots(DIRS_PER_MKDIR * 2 + 5)
    result = await stage_and_submit(LocalExecutor(), submission(tmp_path, group, ["true"]), lambda sub, path: "#!/bin/sh\n", "job.sh", lambda path: "echo submitted")
    assert result.stdout.strip() == "submitted"
    assert sorted(p.name for p in (tmp_path / "pilots").iterdir()) == sorted(p.tag for p in group)


@pytest.mark.parametrize("made", [True, False])
def test_the_wrapper_makes_its_dir_only_when_it_is_missing(tmp_path: Path, made: bool) -> None:
    """A pilot whose dir was made at submission starts no `mkdir`; one whose dir is missing (its node
    does not share the login node's files) makes it and runs."""
    calls, fake = tmp_path / "mkdir-calls", tmp_path / "bin"
    fake.mkdir()
    (fake / "mkdir").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec /bin/mkdir "$@"\n')
    (fake / "mkdir").chmod(0o755)
    tag = pilots(1)[0].tag
    if made:
        (tmp_path / "pilots" / tag).mkdir(parents=True)
    wrapper = tmp_path / "pilot.sh"
    wrapper.write_text(render_wrapper(str(tmp_path / "pilots"), [*BUILDER, "--install", str(tmp_path / "builder")], ["true"], {}))
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    assert subprocess.run(["sh", str(wrapper), tag], env=env, timeout=60, check=False).returncode == 0
    assert (tmp_path / "pilots" / tag / "exit").read_text() == "0\n"
    assert calls.exists() != made


async def test_a_stopping_pilot_ends_what_its_worker_left_running(tmp_path: Path, cleanup: list[int]) -> None:
    """The wrapper signals its whole process group when it stops: a process it never knew of (here
    the worker's own background child) ends with the pilot, on sites where nothing tracks a job's
    processes."""
    pgid, status = await started_with_keepers(tmp_path, cleanup, worker=("sh", "-c", "sleep 301 & exec sleep 60"))

    async def left_behind():
        return any(args == "sleep 301" for _, args in running(pgid))

    await wait_for(left_behind)
    os.kill(pgid, signal.SIGTERM)
    assert (await wait_for(ended(status), timeout=20)).exit_code == 143
    await asyncio.sleep(0.5)
    assert running(pgid) == []


@pytest.mark.parametrize("runs", [1, KEEPER_DELAY + 1])
async def test_a_pilot_whose_worker_exits_leaves_nothing_running(tmp_path: Path, cleanup: list[int], runs: int) -> None:
    """However a pilot ends, its process group ends with it: here the worker exits on its own, before
    or after the keepers started, leaving a background child behind."""
    pgid, status = await started_with_keepers(tmp_path, cleanup, worker=("sh", "-c", f"sleep 301 & sleep {runs}"))
    assert (await wait_for(ended(status), timeout=20)).exit_code == 0
    await asyncio.sleep(0.5)
    assert running(pgid) == []


async def test_the_lifetime_watchdog_counts_its_lifetime_in_checks(tmp_path: Path, cleanup: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrapper, "WATCHDOG_CHECK", 1)
    pgid, status = await started_with_keepers(tmp_path, cleanup, lifetime=KEEPER_DELAY + 3)
    stopped = await wait_for(ended(status), timeout=20)
    assert (stopped.exit_code, stopped.reason) == (124, "reached its maximum lifetime")


async def test_a_watchdog_whose_pilot_is_over_ends_without_signalling(tmp_path: Path, cleanup: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A watchdog that outlived its pilot (a TERM lost by a process just forked) ends at its next
    check, and never signals the pid its pilot's worker had."""
    monkeypatch.setattr(wrapper, "WATCHDOG_CHECK", 1)
    pgid, status = await started_with_keepers(tmp_path, cleanup, lifetime=KEEPER_DELAY + 4)

    async def watching():
        return any(args == "sleep 1" for _, args in running(pgid))

    await wait_for(watching)
    (tmp_path / "pilots" / pilots(1)[0].tag / "exit").write_text("0\n")  # as if the wrapper had ended
    await asyncio.sleep(KEEPER_DELAY + 4)
    commands = [args for _, args in running(pgid)]
    assert "sleep 90" in commands and "sleep 1" not in commands and not (tmp_path / "pilots" / pilots(1)[0].tag / "ended").exists()

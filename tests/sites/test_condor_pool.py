"""The HTCondor test bed itself: a pool in the trixie root runs a user's job, and a pool killed
outright leaves no mount in this machine's tree and no daemon behind, and starts again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests import ROOT
from tests.testbed.condor import CondorPool
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(300)


def mounted_under(root: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in line]


def test_a_users_job_runs_in_the_pool(condor_pool) -> None:
    home = condor_pool.home("condoruser")
    (home / "hello.sub").write_text("executable = /bin/sh\narguments = \"-c 'echo hello from the pool'\"\noutput = hello.out\nerror = hello.err\nlog = hello.log\nqueue\n")
    os.chown(home / "hello.sub", condor_pool.users["condoruser"], condor_pool.users["condoruser"])
    submitted = condor_pool.run(["sh", "-c", "cd && condor_submit -terse hello.sub"], user="condoruser")
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.split()[0]
    wait_until(lambda: condor_pool.run(["condor_history", job, "-af", "ExitCode"]).stdout.strip() == "0", 120, f"job {job} done")
    assert (home / "hello.out").read_text() == "hello from the pool\n"


def test_a_pool_killed_outright_leaves_no_mount_and_no_daemon_and_starts_again(condor_pool) -> None:
    master = condor_pool.master_pid
    assert master is not None and mounted_under(condor_pool.root) == [], "the pool's mounts are its own, never the host's"
    namespace = _pid_namespace(master)
    members = [pid for pid in _pids() if _pid_namespace(pid) == namespace]
    daemons = [pid for pid in members if _root_of(pid) == condor_pool.root]
    assert master in daemons and len(daemons) >= 4, "master, collector, negotiator, schedd and startd chrooted"
    os.kill(condor_pool.process.pid, signal.SIGKILL)
    condor_pool.process.wait(10)
    wait_until(lambda: not any(_pid_namespace(pid) == namespace for pid in members), 20, "every daemon gone with its namespace")
    assert mounted_under(condor_pool.root) == []
    condor_pool.start()
    assert condor_pool.run(["condor_q", "-af", "ClusterId"]).returncode == 0


def test_a_test_run_killed_outright_takes_its_pool_with_it(condor_pool) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tests.testbed.condor import CondorPool; "
         "pool = CondorPool(__import__('pathlib').Path(sys.argv[1])).start(); print(pool.master_pid, flush=True); time.sleep(600)", str(condor_pool.root)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    master = int(run.stdout.readline())
    assert _root_of(master) == condor_pool.root
    run.kill()
    run.wait(10)
    wait_until(lambda: _root_of(master) is None, 30, "the killed run's pool gone")
    assert mounted_under(condor_pool.root) == []
    assert list(Path(tempfile.gettempdir()).glob(f"vc3tui-condor-{run.pid}-*")), "its state, until the next pool starts"
    CondorPool(condor_pool.root).start().stop()
    assert not list(Path(tempfile.gettempdir()).glob(f"vc3tui-condor-{run.pid}-*")), "swept by the next pool"


def _pids() -> list[int]:
    return [int(pid) for pid in os.listdir("/proc") if pid.isdigit()]


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _root_of(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/root"))
    except OSError:
        return None

"""A single-host Son of Grid Engine 8.1.9 cell (Debian's gridengine packages) for the tests.

Debian's packages have one cell (`default`) under /var/lib/gridengine; this test bed configures
it for this host (facts in ../shared/TESTBED.md), starts sge_qmaster and sge_execd, and stops
exactly those daemons by their pid files. Every job left in the cell is deleted first.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CELL = Path("/var/lib/gridengine/default/common")
QMASTER_PID = Path("/var/spool/gridengine/qmaster/qmaster.pid")
EXECD_PID = Path("/var/run/gridengine/execd.pid")
SLOTS = 64


def usable() -> str | None:
    if os.geteuid() != 0:
        return "the SGE test bed needs root"
    if not Path("/usr/sbin/sge_qmaster").exists() or not CELL.exists():
        return "gridengine is missing: run tests/testbed/install-packages as root"
    return None


def qconf(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qconf", *args], capture_output=True, text=True, check=check)


def _with_file(text: str, *args: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as out:
        out.write(text)
    try:
        qconf(*args, out.name, check=False)
    finally:
        os.unlink(out.name)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class SGETestBed:
    def __init__(self) -> None:
        self.started: list[Path] = []

    def start(self) -> "SGETestBed":
        (CELL / "host_aliases").write_text(f"localhost {socket.gethostname()}\n")
        subprocess.run(["install", "-d", "-o", "sgeadmin", "-g", "sgeadmin", "/var/run/gridengine", "/var/spool/gridengine/execd"], check=True)
        if not self._alive(QMASTER_PID):
            subprocess.run(["/usr/sbin/sge_qmaster"], check=True)
            self.started.append(QMASTER_PID)
        self._wait(lambda: qconf("-sh", check=False).returncode == 0, "sge_qmaster")
        qconf("-as", "localhost", check=False)
        qconf("-ah", "localhost", check=False)
        _with_file("hostname localhost\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\n"
                   "projects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n", "-Ae")  # fmt: skip
        queue = "\n".join([
            "qname all.q", "hostlist localhost", "seq_no 0", "load_thresholds NONE", "suspend_thresholds NONE",
            "nsuspend 1", "suspend_interval 00:05:00", "priority 0", "min_cpu_interval 00:05:00", "processors UNDEFINED",
            "qtype BATCH INTERACTIVE", "ckpt_list NONE", "pe_list NONE", "rerun FALSE", f"slots {SLOTS}",
            "tmpdir /tmp", "shell /bin/bash", "prolog NONE", "epilog NONE", "shell_start_mode posix_compliant",
            "starter_method NONE", "suspend_method NONE", "resume_method NONE", "terminate_method NONE",
            "notify 00:00:60", "owner_list NONE", "user_lists NONE", "xuser_lists NONE", "subordinate_list NONE",
            "complex_values NONE", "projects NONE", "xprojects NONE", "calendar NONE", "initial_state default",
            "s_rt INFINITY", "h_rt INFINITY", "s_cpu INFINITY", "h_cpu INFINITY", "s_fsize INFINITY", "h_fsize INFINITY",
            "s_data INFINITY", "h_data INFINITY", "s_stack INFINITY", "h_stack INFINITY", "s_core INFINITY",
            "h_core INFINITY", "s_rss INFINITY", "h_rss INFINITY", "s_vmem INFINITY", "h_vmem INFINITY", "",
        ])  # fmt: skip
        if qconf("-sq", "all.q", check=False).returncode == 0:
            _with_file(queue, "-Mq")
        else:
            _with_file(queue, "-Aq")
        scheduler = qconf("-ssconf").stdout
        lines = [line for line in scheduler.splitlines() if not line.startswith(("schedule_interval", "flush_submit_sec", "flush_finish_sec"))]
        _with_file("\n".join([*lines, "schedule_interval 0:0:1", "flush_submit_sec 1", "flush_finish_sec 1", ""]), "-Msconf")
        if not self._alive(EXECD_PID):
            subprocess.run(["/usr/sbin/sge_execd"], env={**os.environ, "SGE_EXECD_PIDFILE": str(EXECD_PID)}, check=True)
            self.started.append(EXECD_PID)
        self._wait(self._host_up, "sge_execd to report")
        return self

    def _host_up(self) -> bool:
        result = subprocess.run(["qstat", "-f", "-q", "all.q"], capture_output=True, text=True)
        return "all.q@localhost" in result.stdout and " au" not in result.stdout and "-NA-" not in result.stdout

    @staticmethod
    def _alive(pid_file: Path) -> bool:
        pid = _pid(pid_file)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    @staticmethod
    def _wait(check, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what}")

    def delete_all_jobs(self) -> None:
        subprocess.run(["qdel", "-u", "*", "-f"], capture_output=True)
        subprocess.run(["sh", "-c", "qdel -f $(qstat -u '*' | awk 'NR>2 {print $1}') 2>/dev/null"], capture_output=True)
        self._wait(lambda: not subprocess.run(["qstat", "-u", "*"], capture_output=True, text=True).stdout.strip(), "jobs to go", 60)

    def stop(self) -> None:
        if self.started:
            self.delete_all_jobs()
        for pid_file in reversed(self.started):
            pid = _pid(pid_file)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self._alive(pid_file):
                time.sleep(0.2)
        self.started.clear()

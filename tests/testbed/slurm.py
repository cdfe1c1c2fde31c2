"""A SLURM cluster of our own on this machine, beside any other: own SLURM_CONF outside /etc, own
ports, state dirs, node name and munged with its own key and socket (facts in ../shared/TESTBED.md).

Daemons run in the foreground as our children and are stopped by pid; every job in this private
cluster is cancelled first, since jobs outlive slurmd.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

NODE = "vc3tuinode"
CLUSTER = "vc3tuitest"


def usable() -> str | None:
    if os.geteuid() != 0:
        return "the SLURM test bed needs root (munged and slurmd)"
    for binary in ("slurmctld", "slurmd", "sbatch", "munged", "mungekey"):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            return f"{binary} is missing: run tests/testbed/install-packages as root"
    return None


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_pair(start: int = 6827) -> tuple[int, int]:
    for port in range(start, start + 200, 2):
        if port_free(port) and port_free(port + 1):
            return port, port + 1
    raise RuntimeError("no two free ports for slurmctld and slurmd")


def munged_command(folder: Path) -> list[str]:
    """A fresh munge key in `folder` (made 0755 for the test user's clients once the socket is
    there), and the command line of a munged that serves it on `folder/munge.socket.2`."""
    shutil.chown(folder, "munge", "munge")
    key = folder / "munge.key"
    subprocess.run(["mungekey", "-c", "-k", str(key)], check=True)
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    return [
        "runuser", "-u", "munge", "--", "/usr/sbin/munged", "--foreground",
        f"--socket={folder / 'munge.socket.2'}", f"--key-file={key}", f"--pid-file={folder / 'munged.pid'}",
        f"--log-file={folder / 'munged.log'}", f"--seed-file={folder / 'munged.seed'}",
    ]  # fmt: skip


def wait_for_munge(folder: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not (folder / "munge.socket.2").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"munged did not start: {(folder / 'munged.log').read_text() if (folder / 'munged.log').exists() else ''}")
        time.sleep(0.05)
    os.chmod(folder, 0o755)


@dataclass
class SlurmTestBed:
    """`root` must be reachable by the munge user and the test user: by default a fresh 0755
    directory in /tmp (pytest's own temporary dirs are 0700), removed again by `stop`."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vc3tui-slurm-", dir="/tmp")))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    scheduler: str = "sched/backfill"
    """SLURM's default; the benchmarks take sched/builtin: backfill starts jobs between the
    once-a-second passes (every 30 s), a second's luck for whichever side it catches."""

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self) -> "SlurmTestBed":
        for name in ("state", "spool", "log", "munge"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self._start_munge()
        ctld_port, slurmd_port = free_pair()
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 2
        self.conf.write_text(
            "\n".join(
                [
                    f"ClusterName={CLUSTER}",
                    "SlurmctldHost=localhost(127.0.0.1)",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={slurmd_port}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    f"AuthInfo=socket={self.root / 'munge' / 'munge.socket.2'}",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "SwitchType=switch/none",
                    "MailProg=/bin/true",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU",
                    f"SchedulerType={self.scheduler}",
                    "SchedulerParameters=batch_sched_delay=0",
                    "ReturnToService=2",
                    "KillWait=5",
                    "MinJobAge=30",
                    "MaxArraySize=10001",
                    "SlurmdParameters=config_overrides",
                    f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} CPUs=64 RealMemory={memory} State=UNKNOWN",
                    f"PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        self.conf.chmod(0o644)
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(self.conf)])
        self._wait_idle()
        return self

    def _start_munge(self) -> None:
        self._spawn("munged", munged_command(self.root / "munge"))
        wait_for_munge(self.root / "munge")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def _wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            result = subprocess.run(["sinfo", "-h", "-n", NODE, "-o", "%t"], capture_output=True, text=True, env=self.env)
            state = result.stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"slurmd did not register (state {state!r}); see {self.root / 'log'}")

    def stop_controller(self) -> None:
        """slurmctld down (by its own pid), as when the site's controller fails; slurmd and the jobs stay."""
        process = self.processes["slurmctld"]
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    def start_controller(self) -> None:
        """slurmctld back from its saved state, with the jobs it had."""
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait_idle()

    def squeue(self, *args: str) -> list[str]:
        result = subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, env=self.env, check=True)
        return [line for line in result.stdout.splitlines() if line.strip()]

    def scheduling_passes(self) -> list[float]:
        """When (epoch seconds) slurmctld's scheduler started jobs, from its log: its passes come
        about once a second, and a job starts on the first pass after it is submitted."""
        passes = []
        for line in (self.root / "log" / "slurmctld.log").read_text(errors="replace").splitlines():
            stamp, _, message = line.partition("] ")
            if message.startswith("sched: Allocate"):
                passes.append(datetime.strptime(stamp.lstrip("["), "%Y-%m-%dT%H:%M:%S.%f").timestamp())
        return passes

    def cancel_everything(self) -> None:
        subprocess.run(["scancel", "--full", "--quiet", "--partition=debug"], env=self.env, capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.squeue("-t", "PD,R,CG,S"):
            time.sleep(0.2)

    def stop(self) -> None:
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            self.cancel_everything()
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.get(name)
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

"""Two sites on the topology test bed, sharing nothing but the kernel: each its own sshd on its
login node, its own SLURM (slurmctld there, slurmd on each compute node), its own home for the
test user (bind-mounted over it on every host of the site) and its own job ids; the bastion runs
an sshd too, for ProxyJump. One munged serves both SLURMs (its socket is a file).

Daemons are spawned through the topology, so they are recorded by pid in its state file and a
run killed half-way is swept by the next (facts in ../shared/TESTBED.md, "Network namespaces").
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.testbed.bare_node import node_command
from tests.testbed.slurm import munged_command, wait_for_munge
from tests.testbed.sshd import PASSWORD, SSHD, USER, totp_now, write_mfa_pam
from tests.testbed.topology import NODES, SITES, SSH_PORT, Topology, site_address

SLURMCTLD_PORT = 6817
SLURMD_PORT = 6818
FIRST_JOB_ID = {"a": 1000, "b": 2000}


def ensure_user() -> Path:
    """The test user (kept between runs, as the sshd test bed keeps it), with its password set."""
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
    subprocess.run(["chpasswd"], input=f"{USER}:{PASSWORD}\n", text=True, check=True)
    return Path(pwd.getpwnam(USER).pw_dir)


MFA_SERVICE = "vc3tui-test-two-sites-mfa"
"""The PAM service (and sshd binary name) of a site that asks a password and a code."""


@dataclass
class TwoSites:
    net: Topology
    mfa_site: str | None = None
    """A site whose login node takes only a password and a TOTP code (keyboard-interactive)."""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    totp_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    bare_site: str | None = None
    """A site whose compute nodes run chrooted in `bare_root` (tests/testbed/bare_node.py)."""
    bare_root: Path | None = None

    @property
    def root(self) -> Path:
        return self.net.root

    def home(self, site: str) -> Path:
        """The test user's home as site `site`'s hosts see it."""
        return self.root / f"home-{site}"

    def conf(self, site: str) -> Path:
        return self.root / f"slurm-{site}" / "slurm.conf"

    def start(self) -> "TwoSites":
        user_home = ensure_user()
        subprocess.run(["install", "-d", "-m", "755", "/run/sshd"], check=True)
        if self.mfa_site:
            self.totp()
            write_mfa_pam(MFA_SERVICE, self.root / "oath.users")
        self._start_munge()
        for site in SITES:
            home = self.home(site)
            (home / ".ssh").mkdir(parents=True, mode=0o700)
            for path in (home, home / ".ssh"):
                shutil.chown(path, USER, USER)
            for host in ("login", *NODES):
                self.net.bind(f"{site}-{host}", home, user_home)
            self._start_slurm(site)
            self._start_sshd(f"{site}-login", {"SLURM_CONF": str(self.conf(site))})
        self._start_sshd("bastion", {})
        for site in SITES:
            self._wait_idle(site)
        return self

    def stop(self) -> None:
        for site in SITES:
            if f"slurmctld-{site}" in self.processes:
                self.slurm(site, ["scancel", "--full", "--quiet", f"--user={USER}"])
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        if self.mfa_site:
            (Path("/etc/pam.d") / MFA_SERVICE).unlink(missing_ok=True)

    def totp(self) -> str:
        """A code for the MFA site's login, now."""
        return totp_now(self.root / "oath.users", self.totp_secret)

    # the daemons

    def _spawn(self, name: str, host: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.processes[name] = self.net.spawn(host, argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir()
        self._spawn("munged", "laptop", munged_command(munge))
        wait_for_munge(munge)

    def _start_slurm(self, site: str) -> None:
        folder = self.conf(site).parent
        for name in ("state", "spool", "log", "run"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        nodes = [f"site{site}-{node}" for node in NODES]
        lines = [
            f"ClusterName=site{site}",
            f"SlurmctldHost=site{site}-login({site_address(site, 'login')})",
            f"SlurmctldPort={SLURMCTLD_PORT}", f"SlurmdPort={SLURMD_PORT}", "SlurmUser=root", "SlurmdUser=root",
            f"AuthInfo=socket={self.root / 'munge' / 'munge.socket.2'}",
            f"StateSaveLocation={folder / 'state'}", f"SlurmdSpoolDir={folder / 'spool' / '%n'}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}", f"SlurmdPidFile={folder / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}", f"SlurmdLogFile={folder / 'log' / 'slurmd-%n.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none", "JobCompType=jobcomp/none", "MpiDefault=none", "SwitchType=switch/none",
            "MailProg=/bin/true", "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "SchedulerType=sched/builtin",
            "SchedulerParameters=batch_sched_delay=0", "ReturnToService=2", "KillWait=5", "MinJobAge=30", f"FirstJobId={FIRST_JOB_ID[site]}",
            "SlurmdParameters=config_overrides",
            *(f"NodeName={name} NodeAddr={site_address(site, node)} CPUs=8 RealMemory=8000 State=UNKNOWN" for name, node in zip(nodes, NODES)),
            f"PartitionName=debug Nodes={','.join(nodes)} Default=YES MaxTime=INFINITE State=UP",
        ]  # fmt: skip
        self.conf(site).write_text("\n".join(lines) + "\n")
        self.conf(site).chmod(0o644)
        self._spawn(f"slurmctld-{site}", f"{site}-login", ["slurmctld", "-D", "-f", str(self.conf(site))])
        for node in NODES:
            # each slurmd writes its pid file at the same path: a run dir of its own there
            own_run = folder / f"run-{node}"
            own_run.mkdir(exist_ok=True)
            name = f"site{site}-{node}"
            (folder / "spool" / name).mkdir(parents=True, exist_ok=True)  # its step sockets' dir, from the start
            if site == self.bare_site:
                tmp = self.root / f"tmp-{site}-{node}"
                tmp.mkdir(mode=0o1777)
                tmp.chmod(0o1777)
                argv = node_command(self.bare_root, tmp, Path(pwd.getpwnam(USER).pw_dir), own_run, self.conf(site), name, self.root / "munge")
            else:
                self.net.bind(f"{site}-{node}", own_run, folder / "run")
                argv = ["slurmd", "-D", "-N", name, "-f", str(self.conf(site))]
            self._spawn(f"slurmd-{site}-{node}", f"{site}-{node}", argv)

    def _start_sshd(self, host: str, env: dict[str, str]) -> None:
        """The host's sshd; on the MFA site, started under the PAM service's name (sshd takes its
        service from its own name) and taking keyboard-interactive only."""
        folder = self.root / f"sshd-{host}"
        folder.mkdir()
        key = folder / "host_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        mfa = host == f"{self.mfa_site}-login"
        binary = folder / MFA_SERVICE if mfa else Path(SSHD)
        if mfa:
            binary.symlink_to(SSHD)
        config = folder / "sshd.conf"
        config.write_text("\n".join([
            f"Port {SSH_PORT}", "ListenAddress 0.0.0.0", f"HostKey {key}", f"PidFile {folder / 'sshd.pid'}", "UsePAM yes",
            f"AllowUsers {USER}", "PubkeyAuthentication yes", "PasswordAuthentication yes", "KbdInteractiveAuthentication yes",
            "LogLevel VERBOSE", "Subsystem sftp internal-sftp", "AllowTcpForwarding yes", *(f"SetEnv {k}={v}" for k, v in env.items()),
            *(["AuthenticationMethods keyboard-interactive"] if mfa else []), "",
        ]))  # fmt: skip
        self._spawn(f"sshd-{host}", host, [str(binary), "-D", "-f", str(config), "-E", str(folder / "sshd.log")])

    def host_key(self, host: str) -> Path:
        return self.root / f"sshd-{host}" / "host_ed25519.pub"

    # using a site

    def slurm(self, site: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """A SLURM command on the site's login node, as root."""
        return self.net.run(f"{site}-login", argv, env={**os.environ, "SLURM_CONF": str(self.conf(site))}, **kwargs)

    def job(self, site: str, script: str, timeout: float = 120) -> str:
        """What a batch job running `script` as the test user on `site` printed, once it ended."""
        name = f"job-{secrets.token_hex(4)}.out"
        home = pwd.getpwnam(USER).pw_dir
        argv = ["runuser", "-u", USER, "--", "sbatch", "--wait", "--quiet", f"--chdir={home}", f"--output={home}/{name}", "--wrap", script]
        done = self.net.run(f"{site}-login", argv, env={**os.environ, "SLURM_CONF": str(self.conf(site))}, timeout=timeout)
        output = self.home(site) / name
        printed = output.read_text() if output.exists() else ""
        output.unlink(missing_ok=True)
        if done.returncode not in (0, 1):  # 1: the job's own failure, which its output shows
            raise RuntimeError(f"sbatch on site {site} failed: {done.stderr.strip()}")
        return printed

    def _wait_idle(self, site: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        states = ""
        while time.monotonic() < deadline:
            states = self.slurm(site, ["sinfo", "-h", "-o", "%t"]).stdout.split()
            if states and all(state in ("idle", "mix", "alloc") for state in states):
                return
            time.sleep(0.2)
        raise RuntimeError(f"site {site}'s slurmd did not register ({states}); see {self.conf(site).parent / 'log'}")

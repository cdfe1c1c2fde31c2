"""HTCondor for the tests: Debian 13's package (Debian 12 has none) in a trixie root of the
project's own, made once per pinned version and kept in the clone's cache; a pool's daemons run
chrooted in it inside private mount and pid namespaces, so a run killed half-way leaves neither a
mount in the host's tree nor a daemon, and they are stopped by pid (facts in
../shared/TESTBED.md, "HTCondor").
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.testbed import alive, root_with
from tests.testbed.roots import debian_root
from tests.testbed.sshd import USER, SSHTestBed, free_port

HTCONDOR = "23.9.6+dfsg-2.1+b10"
"""The trixie package the tests pass with; the root in the cache is keyed by it."""
PACKAGES = (f"htcondor={HTCONDOR}", "openssh-server", "python3")
"""A submit host as sites have one: HTCondor, an sshd to log in, a python3 for the pilots."""
SUITE = "trixie"
PR_SET_PDEATHSIG = 1
UID_BASE = 61000
"""Pool users get uids from here: none of this machine's users has one."""


def usable() -> str | None:
    return root_with("the HTCondor test bed (debootstrap, chroot, namespaces)", "debootstrap", "unshare", "nsenter", "chroot")


def condor_root(cache: Path) -> Path:
    """The trixie root with `PACKAGES` (made afresh, about 70 s, when the cache has none)."""
    try:
        return debian_root(cache, f"htcondor-{HTCONDOR}", SUITE, PACKAGES, made="usr/sbin/condor_master")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc} (is htcondor={HTCONDOR} still in {SUITE}? set HTCONDOR to the version there)") from None


def _ends_with_its_parent() -> None:
    """In the pool's unshare before it runs: KILL (it ignores TERM while it waits) when the test
    run that started it dies, even killed outright, so no pool outlives its run."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(pid: int) -> int | None:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


POOL = """\
use ROLE: Personal
CONDOR_HOST = 127.0.0.1
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
ENABLE_IPV6 = False
COLLECTOR_HOST = 127.0.0.1:{port}
SHARED_PORT_PORT = {port}
UID_DOMAIN = vc3tui.test
FILESYSTEM_DOMAIN = vc3tui.test
TRUST_UID_DOMAIN = True
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_MIN_INTERVAL = 1
NEGOTIATOR_CYCLE_DELAY = 1
SCHEDD_INTERVAL = 2
UPDATE_INTERVAL = 2
RUNBENCHMARKS = False
BASE_CGROUP =
"""

START = """\
set -e
root=$1 state=$2
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t sysfs sys "$root/sys"
mount --bind /etc/hosts "$root/etc/hosts"
mount --bind "$state/pool.conf" "$root/etc/condor/config.d/90-vc3tui.conf"
mkdir -p "$root/var/lib/condor" "$root/var/spool/condor" "$root/var/log/condor"
mount --bind "$state/lib" "$root/var/lib/condor"
mount --bind "$state/spool" "$root/var/spool/condor"
mount --bind "$state/log" "$root/var/log/condor"
mount --bind "$state/run" "$root/run"
mount --bind "$state/home" "$root/home"
shift 2
for path in "$@"; do
    mkdir -p "$root$path"
    mount --bind "$path" "$root$path"
done
chroot "$root" install -d -o condor -g condor -m 0755 /var/lib/condor/execute /run/condor /run/lock/condor
chroot "$root" install -d -m 0755 /run/sshd
chroot "$root" chown condor:condor /var/lib/condor /var/spool/condor /var/log/condor
chroot "$root" /usr/sbin/condor_master -f &
trap 'exit 143' TERM
wait $!
"""
"""Mounts the pool's state over the root's and starts condor_master under this shell, which stays
pid 1 of the pool's pid namespace: when it ends (its unshare killed: TERM), every daemon ends with
it. condor_master itself cannot be pid 1: it changes its credentials, which clears the signal
unshare asks the kernel to send it."""


class CondorPool:
    """A personal pool (collector, negotiator, schedd, startd) on 127.0.0.1 in the trixie root;
    `run` is a command inside it, as root or as one of `users` (made in the root with uids no
    host user has) or of `host_users` (this machine's, same uid, their home and every path in
    `binds` mounted at the same place)."""

    def __init__(self, root: Path, users: tuple[str, ...] = ("condoruser",), *, host_users: tuple[str, ...] = (), binds: tuple[Path, ...] = ()) -> None:
        self.root = root
        self.port = free_port()
        self.users = {name: UID_BASE + number for number, name in enumerate(users)}
        self.host_users = [pwd.getpwnam(name) for name in host_users]
        self.binds = (*binds, *(Path(user.pw_dir) for user in self.host_users))
        self.state: Path | None = None
        """This run's own pool state (spool, logs, /run, homes, config), mounted over the root's."""
        self.process: subprocess.Popen[bytes] | None = None

    def home(self, user: str) -> Path:
        """`user`'s home in the pool, as a path on this machine."""
        assert self.state is not None, "the pool is not started"
        return self.state / "home" / user

    def start(self, timeout: float = 60) -> CondorPool:
        if self.state is not None:  # a pool killed outright, started again
            shutil.rmtree(self.state, ignore_errors=True)
        for left in Path(tempfile.gettempdir()).glob("vc3tui-condor-*-*"):  # by runs killed outright
            if not alive(int(left.name.split("-")[2])):
                shutil.rmtree(left, ignore_errors=True)
        self.state = Path(tempfile.mkdtemp(prefix=f"vc3tui-condor-{os.getpid()}-"))
        for name in ("lib", "spool", "log", "run", "home"):
            (self.state / name).mkdir()
        (self.state / "pool.conf").write_text(POOL.format(port=self.port))
        (self.root / "etc/condor/config.d/90-vc3tui.conf").touch()
        for name, uid in self.users.items():
            self.chroot(["sh", "-c", f"id {name} >/dev/null 2>&1 || useradd -M -u {uid} {name}"], check=True)
            self.home(name).mkdir()
            os.chown(self.home(name), uid, uid)
        for user in self.host_users:
            self.chroot(["sh", "-c", f"getent group {user.pw_gid} >/dev/null || groupadd -g {user.pw_gid} {user.pw_name}; "
                        f"id {user.pw_name} >/dev/null 2>&1 || useradd -M -u {user.pw_uid} -g {user.pw_gid} -d {user.pw_dir} -s /bin/bash {user.pw_name}"], check=True)  # fmt: skip
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--fork", "--kill-child=SIGTERM", "--propagation", "private", "sh", "-c", START, "sh", str(self.root), str(self.state), *map(str, self.binds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_ends_with_its_parent,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.run(["condor_status", "-schedd", "-af", "Name"]).stdout.strip() == "":
            if self.process.poll() is not None:
                raise RuntimeError(f"the pool's condor_master ended: {self.process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"no schedd in the pool after {timeout:.0f} s")
            time.sleep(0.3)
        return self

    @property
    def master_pid(self) -> int | None:
        """condor_master: the child of the pool's pid 1, itself the child of unshare."""
        init = _child(self.process.pid) if self.process else None
        return _child(init) if init else None

    def chroot(self, argv: list[str], *, user: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        """`argv` in the root without the pool's mounts (for setting up: users, files)."""
        spec = ["--userspec", f"{user}:{user}"] if user else []
        return subprocess.run(["chroot", *spec, str(self.root), *argv], capture_output=True, text=True, check=check)

    def run(self, argv: list[str], *, user: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """`argv` inside the running pool (its mounts, its pid namespace), as root or `user`."""
        if self.master_pid is None:
            return subprocess.CompletedProcess(argv, 1, "", "the pool is not running")
        enter = self.inside(user)
        environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": f"/home/{user}" if user else "/root"}
        return subprocess.run([*enter, *argv], capture_output=True, text=True, timeout=timeout, env=environment, cwd="/")

    def inside(self, user: str | None = None) -> list[str]:
        """The command line prefix that runs a program inside the running pool, as root or `user`."""
        spec = ["--userspec", f"{user}:{user}"] if user else []
        return ["nsenter", "--target", str(self.master_pid), "--mount", "--pid", "--", "chroot", *spec, str(self.root)]

    def stop(self, timeout: float = 30) -> None:
        """condor_master asked to shut the pool down (TERM); the namespace killed if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        pid = self.master_pid
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        shutil.rmtree(self.state, ignore_errors=True)


class CondorSite:
    """A site whose login node is an HTCondor submit host: the pool above with the test user
    (this machine's, the same home) and an sshd of its own inside, as on a real site; its
    `condor_submit` is the pool's."""

    def __init__(self, root: Path, sshd_dir: Path) -> None:
        self.sshd = SSHTestBed(sshd_dir, mfa=False)
        self.root = root
        self.pool: CondorPool | None = None

    def start(self) -> CondorSite:
        self.sshd.root.mkdir(parents=True, exist_ok=True)
        self.sshd.ensure_user()
        self.pool = CondorPool(self.root, host_users=(USER,), binds=(self.sshd.root,)).start()
        self.sshd.launcher = self.pool.inside()
        self.sshd.start()
        return self

    def remove_all_jobs(self) -> None:
        self.pool.run(["condor_rm", "-all", "-forcex"])

    def queue(self) -> list[str]:
        """Every job in the schedd's queue: id, status, tag."""
        listed = self.pool.run(["condor_q", "-allusers", "-af:j", "JobStatus", "Vc3tuiTag"])
        return listed.stdout.splitlines()

    def stop(self) -> None:
        self.sshd.stop()
        if self.pool:
            self.pool.stop()

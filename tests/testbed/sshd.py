"""A real OpenSSH sshd on 127.0.0.1 for the tests, with a test user who logs in by key, password,
keyboard-interactive, password + TOTP (pam_oath, on a second port), or a user certificate.

Everything lives in a private directory except what OpenSSH insists on: the test user (created
once, kept), `/run/sshd`, and one PAM service file for the MFA port, which is removed again if
this test bed wrote it. Daemons are our children, stopped by pid.
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

USER = "vc3test"
PASSWORD = "vc3-Test-passw0rd"
SSHD = "/usr/sbin/sshd"
PAM_SERVICE = "vc3tui-test-sshd-mfa"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on port {port} did not come up")


def write_mfa_pam(service: str, oath: Path) -> Path:
    """A PAM service asking the password, then a TOTP code from `oath` (pam_oath's users file):
    an sshd started as a binary of this name (a symlink) uses it. Its owner removes it again."""
    pam = Path("/etc/pam.d") / service
    pam.write_text(
        "# written by the vc3tui test bed; removed when it stops\n"
        "auth requisite pam_unix.so\n"
        f"auth required pam_oath.so usersfile={oath} window=2 digits=6\n"
        "account include sshd\nsession include sshd\npassword include sshd\n"
    )
    return pam


def totp_now(oath: Path, secret: str) -> str:
    """A code for now. pam_oath refuses a code for a time step it has already taken, so its users
    file first forgets what was used: one test's logins would otherwise wait for the next 30 s
    step, and a wait inside a login can outlast the client's login timeout."""
    fresh = oath.with_suffix(".fresh")
    fresh.write_text(f"HOTP/T30/6 {USER} - {secret}\n")
    fresh.chmod(0o600)
    fresh.replace(oath)
    return pyotp.TOTP(base64.b32encode(bytes.fromhex(secret)).decode()).now()


def usable() -> str | None:
    """Why the test bed cannot run here, or None."""
    if os.geteuid() != 0:
        return "the sshd test bed needs root (it creates a test user)"
    for path in (SSHD, "/lib/x86_64-linux-gnu/security/pam_oath.so"):
        if not Path(path).exists() and not list(Path("/lib").glob("*/security/pam_oath.so")):
            return f"{path} is missing: run tests/testbed/install-packages as root"
    return None


@dataclass
class SSHTestBed:
    root: Path
    port: int = 0
    mfa_port: int = 0
    totp_secret: str = field(default_factory=lambda: secrets.token_hex(20))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    wrote_pam: bool = False
    set_env: dict[str, str] = field(default_factory=dict)
    mfa: bool = True
    launcher: list[str] = field(default_factory=list)
    """What the sshd is started through: nothing, or a way into another host (a pool's root)."""

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(USER).pw_dir)

    def start(self) -> "SSHTestBed":
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.ensure_user()
        subprocess.run(["install", "-d", "-m", "755", "/run/sshd"], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.root / "host_ed25519")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test CA", "-f", str(self.root / "user_ca")], check=True)
        oath = self.root / "oath.users"
        totp_now(oath, self.totp_secret)
        self.port = free_port()
        self._start("sshd", SSHD, self._config("main", self.port, "publickey password keyboard-interactive"))
        wait_for_port(self.port)
        if self.mfa:
            write_mfa_pam(PAM_SERVICE, oath)
            self.wrote_pam = True
            self.mfa_port = free_port()
            mfa_binary = self.root / PAM_SERVICE
            mfa_binary.symlink_to(SSHD)
            self._start("sshd-mfa", str(mfa_binary), self._config("mfa", self.mfa_port, None))
            wait_for_port(self.mfa_port)
        return self

    def ensure_user(self) -> None:
        """The test user, with its password and an empty ~/.ssh."""
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
        subprocess.run(["chpasswd"], input=f"{USER}:{PASSWORD}\n", text=True, check=True)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(ssh_dir, USER, USER)
        self.reset_user()

    def write_user_file(self, name: str, text: str, mode: int = 0o600) -> Path:
        """A file in the test user's home, owned by the test user, as if they had written it."""
        path = self.home / name
        path.write_text(text)
        path.chmod(mode)
        shutil.chown(path, USER, USER)
        return path

    def reset_user(self) -> None:
        """A clean account: no authorized keys, a quiet .bashrc, no leftovers of earlier tests."""
        for name in (".ssh/authorized_keys", ".bashrc", ".vc3tui", ".config/pip"):
            path = self.home / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def clean_for_a_test(self, clear_queue: Callable[[], object] = lambda: None) -> Iterator[SSHTestBed]:
        """A fixture's body: the account clean before the test and after it, the site's batch queue
        cleared first (`clear_queue`), whether the test passed or not."""
        self.reset_user()
        try:
            yield self
        finally:
            clear_queue()
            self.reset_user()

    def _config(self, name: str, port: int, methods: str | None) -> Path:
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.root / 'host_ed25519'}",
            f"PidFile {self.root / name}.pid",
            "UsePAM yes",
            f"AllowUsers {USER}",
            "PubkeyAuthentication yes",
            f"TrustedUserCAKeys {self.root / 'user_ca.pub'}",
            "KbdInteractiveAuthentication yes",
            f"PasswordAuthentication {'yes' if methods else 'no'}",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            *(f"SetEnv {key}={value}" for key, value in self.set_env.items()),
        ]
        if methods is None:
            lines.append("AuthenticationMethods keyboard-interactive")
        path = self.root / f"{name}.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _start(self, name: str, binary: str, config: Path) -> None:
        log = self.root / f"{name}.log"
        self.processes[name] = subprocess.Popen([*self.launcher, binary, "-D", "-f", str(config), "-E", str(log)])

    def totp(self) -> str:
        return totp_now(self.root / "oath.users", self.totp_secret)

    def sign_user_key(self, public_key: Path, validity: str = "+1h") -> Path:
        subprocess.run(
            ["ssh-keygen", "-q", "-s", str(self.root / "user_ca"), "-I", "vc3tui-test", "-n", USER, "-V", validity, str(public_key)],
            check=True,
        )
        return Path(str(public_key).removesuffix(".pub") + "-cert.pub")

    def restart(self, name: str = "sshd") -> None:
        """The daemon and every connection it holds go down (as when a login node reboots), and
        the daemon comes back on the same port with the same host key."""
        children = self.connection_children(name)
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        config = self.root / f"{'main' if name == 'sshd' else 'mfa'}.conf"
        self._start(name, process.args[len(self.launcher)], config)
        wait_for_port(self.port if name == "sshd" else self.mfa_port)

    def connection_children(self, name: str = "sshd") -> list[int]:
        """Per-connection sshd processes of one of our sshds (to cut a client's connection)."""
        parent = self.processes[name].pid
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if int(fields[1]) == parent:
                    children.append(int(entry.name))
        return children

    def stop(self) -> None:
        for pid in self.connection_children():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.wrote_pam:
            (Path("/etc/pam.d") / PAM_SERVICE).unlink(missing_ok=True)
        self.reset_user()

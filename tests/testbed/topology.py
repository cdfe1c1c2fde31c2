"""Several hosts on one machine for the topology tests: Linux network namespaces joined by veth
pairs, addresses that exist only inside them, no route out of the machine, and nftables rules for
what may reach what (facts in ../shared/TESTBED.md, "Network namespaces"):

    laptop ─── bastion ─┬─ a-login ── a-node1, a-node2   (site a's own network)
      │                 └─ b-login ── b-node1, b-node2   (site b's own network)
      └── SSH only to a-login and b-login (b-login: none, when b is reached only through the bastion)

The laptop reaches the bastion's and the login nodes' SSH port only; compute nodes reach only
their login node; the sites reach neither each other nor the laptop. Everything a run makes
(namespaces, pids) is written to a state file first, so a run killed half-way is swept by the
next one; only what a state file names is removed, namespaces by name, processes by pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.testbed import alive, root_with

STATE_DIR = Path("/run/vc3tui-topology")
CLONE_NEWNET = 0x40000000
SSH_PORT = 22


def usable() -> str | None:
    return root_with("the topology test bed (network namespaces)", "ip", "nft", "nsenter", "unshare")


@dataclass(frozen=True)
class Link:
    """A veth pair between two hosts, with each end's address on a /24 of its own."""

    left: str
    right: str
    subnet: str

    @property
    def left_address(self) -> str:
        return f"{self.subnet}.1"

    @property
    def right_address(self) -> str:
        return f"{self.subnet}.2"


SITES = ("a", "b")
NODES = ("node1", "node2")


def links(b_only_via_bastion: bool) -> list[Link]:
    made = [Link("laptop", "bastion", "10.77.0")]
    for number, site in enumerate(SITES, 1):
        made.append(Link("bastion", f"{site}-login", f"10.77.{10 * number + 1}"))
        if not (site == "b" and b_only_via_bastion):
            made.append(Link("laptop", f"{site}-login", f"10.77.{10 * number}"))
    return made


def site_address(site: str, host: str) -> str:
    """A host's address on its site's network: the login node .1, node N at .1N."""
    number = SITES.index(site) + 1
    return f"10.77.{number}.1" if host == "login" else f"10.77.{number}.1{host.removeprefix('node')}"


@dataclass
class Topology:
    b_only_via_bastion: bool = False
    run_id: str = field(default_factory=lambda: f"{os.getpid()}-{int(time.time())}")
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vc3tui-topology-", dir="/tmp")))
    pids: list[int] = field(default_factory=list)
    binds: dict[str, list[tuple[Path, Path]]] = field(default_factory=dict)

    @property
    def hosts(self) -> list[str]:
        return ["laptop", "bastion", *(f"{site}-{host}" for site in SITES for host in ("login", *NODES))]

    def namespace(self, host: str) -> str:
        return f"vc3t-{self.run_id}-{host}"

    @property
    def state_file(self) -> Path:
        return STATE_DIR / f"{self.run_id}.json"

    # up and down

    def up(self) -> "Topology":
        sweep()
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        self._save()
        os.chmod(self.root, 0o755)
        for host in self.hosts:
            _ip("netns", "add", self.namespace(host))
            self.ip(host, "link", "set", "lo", "up")
        for number, link in enumerate(links(self.b_only_via_bastion)):
            left, right = f"v{number}{link.right[0]}", f"v{number}{link.left[0]}"
            _ip("link", "add", left, "netns", self.namespace(link.left), "type", "veth", "peer", "name", right, "netns", self.namespace(link.right))
            for host, name, address in ((link.left, left, link.left_address), (link.right, right, link.right_address)):
                self.ip(host, "addr", "add", f"{address}/24", "dev", name)
                self.ip(host, "link", "set", name, "up")
        for site in SITES:
            login = f"{site}-login"
            self.ip(login, "link", "add", "site0", "type", "bridge")
            self.ip(login, "addr", "add", f"{site_address(site, 'login')}/24", "dev", "site0")
            self.ip(login, "link", "set", "site0", "up")
            for node in NODES:
                port = f"p{node[-1]}"
                _ip("link", "add", port, "netns", self.namespace(login), "type", "veth", "peer", "name", "eth0", "netns", self.namespace(f"{site}-{node}"))
                self.ip(login, "link", "set", port, "master", "site0")
                self.ip(login, "link", "set", port, "up")
                self.ip(f"{site}-{node}", "addr", "add", f"{site_address(site, node)}/24", "dev", "eth0")
                self.ip(f"{site}-{node}", "link", "set", "eth0", "up")
            self.nft(login, self._login_rules(site))
        self.nft("bastion", self._bastion_rules())
        for host in self.hosts:
            (self.root / f"{host}.hosts").write_text(self.hosts_file(host))
        return self

    def down(self) -> None:
        _clean(self.pids, [self.namespace(host) for host in self.hosts])
        self.state_file.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _save(self) -> None:
        state = {"owner": os.getpid(), "namespaces": [self.namespace(h) for h in self.hosts], "pids": self.pids, "root": str(self.root)}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)

    # what may reach what

    def _login_rules(self, site: str) -> str:
        """Nodes reach their login node on any port; the laptop and the bastion its SSH port; the
        login node opens no connection toward them."""
        number = SITES.index(site) + 1
        from_outside = [f"10.77.{10 * number + 1}.1"] + ([] if site == "b" and self.b_only_via_bastion else [f"10.77.{10 * number}.1"])
        allowed = " ".join(f"ip saddr {address} tcp dport {SSH_PORT} accept;" for address in from_outside)
        return (
            "table inet vc3 {\n"
            f"  chain input {{ type filter hook input priority 0; policy drop; ct state established,related accept; iifname \"lo\" accept; iifname \"site0\" accept; {allowed} }}\n"
            "  chain output { type filter hook output priority 0; policy accept; ct state established,related accept; oifname != { \"lo\", \"site0\" } drop; }\n"
            "}\n"
        )

    @staticmethod
    def _bastion_rules() -> str:
        return (
            "table inet vc3 {\n"
            f"  chain input {{ type filter hook input priority 0; policy drop; ct state established,related accept; iifname \"lo\" accept; ip saddr 10.77.0.1 tcp dport {SSH_PORT} accept; }}\n"
            "  chain output { type filter hook output priority 0; policy accept; ct state established,related accept; ip daddr 10.77.0.1 drop; }\n"
            "}\n"
        )

    def address_of(self, host: str, seen_from: str) -> str | None:
        """`host`'s address on a network `seen_from` shares with it, or None."""
        if host == seen_from:
            return "127.0.0.1"
        for link in links(self.b_only_via_bastion):
            if {link.left, link.right} == {host, seen_from}:
                return link.left_address if host == link.left else link.right_address
        site, _, role = host.partition("-")
        if site in SITES and seen_from.startswith(f"{site}-"):
            return site_address(site, role)
        return None

    def hostname(self, host: str) -> str:
        site, _, role = host.partition("-")
        return f"site{site}-{role}" if role else host

    def hosts_file(self, host: str) -> str:
        lines = ["127.0.0.1 localhost", f"127.0.1.1 {self.hostname(host)}"]
        for other in self.hosts:
            address = self.address_of(other, host)
            if other != host and address:
                lines.append(f"{address} {self.hostname(other)}")
        return "\n".join(lines) + "\n"

    # running things on a host

    def ip(self, host: str, *argv: str) -> None:
        _ip("-n", self.namespace(host), *argv)

    def nft(self, host: str, rules: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.namespace(host), "nft", "-f", "-"], input=rules, text=True, check=True, capture_output=True)

    def cut(self, host: str, *, mend: bool = False) -> None:
        """Take `host`'s links to the laptop and the bastion down (a cable pulled: packets are
        dropped, nothing is refused), or bring them back up; its site network stays as it is."""
        for number, link in enumerate(links(self.b_only_via_bastion)):
            if link.right == host:
                self.ip(host, "link", "set", f"v{number}{link.left[0]}", "up" if mend else "down")

    def bind(self, host: str, source: Path, target: Path) -> None:
        """What `host` sees at `target` from now on (a site's own home, a node's own run dir)."""
        self.binds.setdefault(host, []).append((source, target))

    def command(self, host: str, argv: list[str]) -> list[str]:
        """`argv` as run on `host`: its network, its own hostname, /etc/hosts and binds, in a mount
        namespace of its own (`ip netns exec` would hide /sys/fs/cgroup, which slurmd needs)."""
        binds = [(self.root / f"{host}.hosts", Path("/etc/hosts")), *self.binds.get(host, [])]
        mounts = " && ".join(f"mount --bind {shlex.quote(str(s))} {shlex.quote(str(t))}" for s, t in binds)
        setup = f'hostname {self.hostname(host)} && {mounts} && exec "$@"'
        return ["nsenter", f"--net=/run/netns/{self.namespace(host)}", "unshare", "--uts", "--mount", "--propagation", "private", "sh", "-c", setup, "sh", *argv]

    def run(self, host: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(host, argv), **{"capture_output": True, "text": True, "timeout": 30, **kwargs})

    def spawn(self, host: str, argv: list[str], **kwargs) -> subprocess.Popen:
        """A daemon on `host`, recorded (by pid, in the state file) before it can outlive us."""
        process = subprocess.Popen(self.command(host, argv), start_new_session=True, **kwargs)
        self.pids.append(process.pid)
        self._save()
        return process

    @contextlib.contextmanager
    def entered(self, host: str) -> Iterator[None]:
        """This thread on `host`'s network for a while: an engine made here talks from there, and
        the processes and threads it starts stay there. (Only the network: names in `host`'s
        /etc/hosts are not seen here, so use addresses.)"""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.namespace(host)}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"cannot enter {host}'s network")
            yield
        finally:
            libc.setns(own, CLONE_NEWNET)
            os.close(own)
            os.close(target)

    def can_connect(self, host: str, address: str, port: int, timeout: float = 1.0) -> bool:
        probe = f"import socket,sys\ntry:\n socket.create_connection(({address!r},{port}),{timeout}).close()\nexcept OSError:\n sys.exit(1)"
        return self.run(host, ["python3", "-c", probe], timeout=timeout + 10).returncode == 0


def sweep() -> None:
    """Remove what runs that are gone left behind (a kill -9, CI's time limit), as their state
    files say; a live run's is left alone."""
    if not STATE_DIR.is_dir():
        return
    for path in STATE_DIR.glob("*.json"):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if alive(state.get("owner", 0)):
            continue
        _clean(state.get("pids", []), state.get("namespaces", []))
        shutil.rmtree(state.get("root", ""), ignore_errors=True)
        path.unlink(missing_ok=True)


def _clean(pids: list[int], namespaces: list[str]) -> None:
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)  # each daemon leads a session of its own (spawn)
        except ProcessLookupError:
            pass
    for name in namespaces:
        if (Path("/run/netns") / name).exists():
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)

"""The multi-host test bed itself: who reaches what, no route out of the machine, and a run
killed half-way swept by the next."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import ROOT
from tests.testbed import topology
from tests.testbed.topology import Topology
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]

LISTEN = """
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen()
    while True: s.accept()[0].close()
for port in (22, 8000): threading.Thread(target=serve, args=(port,)).start()
"""


@pytest.fixture
def hosts(request: pytest.FixtureRequest):
    bed = Topology(b_only_via_bastion=getattr(request, "param", False)).up()
    try:
        for host in bed.hosts:
            bed.spawn(host, ["python3", "-c", LISTEN])
        deadline = time.monotonic() + 20
        while not bed.can_connect("a-login", "127.0.0.1", 8000) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield bed
    finally:
        bed.down()


REACHES = [
    ("laptop", "bastion", 22, True), ("laptop", "bastion", 8000, False),
    ("laptop", "a-login", 22, True), ("laptop", "a-login", 8000, False), ("laptop", "b-login", 22, True),
    ("bastion", "a-login", 22, True), ("bastion", "b-login", 22, True),
    ("a-node1", "a-login", 8000, True), ("a-node1", "a-node2", 8000, True), ("a-login", "a-node1", 8000, True),
]  # fmt: skip
NEVER = [
    ("a-login", "laptop", "10.77.10.1"), ("a-node1", "laptop", "10.77.10.1"), ("a-node1", "b-login", "10.77.20.2"),
    ("a-login", "b-login", "10.77.20.2"), ("bastion", "laptop", "10.77.0.1"), ("b-node1", "a-node1", "10.77.1.11"),
]  # fmt: skip


def test_who_reaches_what(hosts: Topology) -> None:
    wrong = [f"{src} -> {dst}:{port}" for src, dst, port, want in REACHES if hosts.can_connect(src, hosts.address_of(dst, src), port) != want]
    wrong += [f"{src} -> {dst} ({address}) got through" for src, dst, address in NEVER if hosts.can_connect(src, address, 22)]
    assert not wrong


def test_no_host_has_a_route_out(hosts: Topology) -> None:
    for host in hosts.hosts:
        result = hosts.run(host, ["python3", "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 2)"])
        assert result.returncode != 0 and "unreachable" in result.stderr, (host, result.stderr)


def test_each_host_has_its_name_and_knows_its_neighbours(hosts: Topology) -> None:
    assert hosts.run("a-node1", ["hostname"]).stdout.strip() == "sitea-node1"
    known = hosts.run("a-node1", ["cat", "/etc/hosts"]).stdout
    assert "10.77.1.1 sitea-login" in known and "siteb" not in known and "laptop" not in known


@pytest.mark.parametrize("hosts", [True], indirect=True)
def test_a_site_behind_the_bastion_takes_no_connection_from_the_laptop(hosts: Topology) -> None:
    assert hosts.address_of("b-login", "laptop") is None
    assert hosts.can_connect("bastion", hosts.address_of("b-login", "bastion"), 22)
    assert not hosts.can_connect("laptop", "10.77.21.2", 22)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_run_killed_half_way_is_swept_by_the_next(tmp_path: Path) -> None:
    script = "from tests.testbed.topology import Topology\nt = Topology().up()\nt.spawn('a-login', ['sleep', '600'])\nprint(t.run_id, t.pids[0], flush=True)\nimport time; time.sleep(600)"
    killed = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    run_id, pid = killed.stdout.readline().split()
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = [p.name for p in Path("/run/netns").iterdir() if p.name.startswith(f"vc3t-{run_id}-")]
    assert len(left) == 8, "the killed run left its namespaces"
    topology.sweep()
    assert not [p for p in Path("/run/netns").iterdir() if p.name.startswith(f"vc3t-{run_id}-")]
    assert wait_until(lambda: not running(int(pid)), 10, "its daemon to be gone too")
    assert not (topology.STATE_DIR / f"{run_id}.json").exists()


def test_two_sites_share_nothing_but_the_kernel(two_sites) -> None:
    """Each site's job runs on its own nodes, writes to its own home, has its own job ids, and
    cannot reach the laptop; the laptop reaches each login node's sshd."""
    script = "cd $HOME && hostname > where.txt && python3 -c 'import socket; socket.create_connection((\"10.77.10.1\", 22), 2)' 2>> where.txt"
    ids = {}
    for site in ("a", "b"):
        submitted = two_sites.slurm(site, ["sbatch", "--parsable", "--uid=vc3test", "--export=NONE", "-o", "/dev/null", "--wrap", f"HOME=/home/vc3test; {script}"])
        assert submitted.returncode == 0, submitted.stderr
        ids[site] = int(submitted.stdout.strip())
    assert ids["a"] >= 1000 and ids["b"] >= 2000
    for site in ("a", "b"):
        where = two_sites.home(site) / "where.txt"
        assert wait_until(lambda: where.exists() and "Error" in where.read_text(), 30, f"site {site}'s job")
        hostname, *error = where.read_text().splitlines()
        assert hostname.startswith(f"site{site}-node") and "Network is unreachable" in error[-1]
    net = two_sites.net
    assert wait_until(lambda: net.can_connect("laptop", net.address_of("a-login", "laptop"), 22), 10, "a's sshd")
    assert net.can_connect("laptop", net.address_of("bastion", "laptop"), 22)


def test_a_test_can_stand_on_the_laptop(hosts: Topology) -> None:
    import socket

    with hosts.entered("laptop"):
        socket.create_connection((hosts.address_of("a-login", "laptop"), 22), 2).close()
        with pytest.raises(OSError):
            socket.create_connection((hosts.address_of("a-node1", "a-login"), 8000), 1)

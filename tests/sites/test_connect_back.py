"""Connect-back through the SSH connection vc3tui already holds, on the namespace test bed: a
compute node that cannot reach the laptop reaches a server there through the relay on its login
node, and the relay ends with the connection."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.errors import EngineError
from vc3tui.engine.models import AllocationUse, Blueprint, HeadPlacement, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import AllocationState, ClusterState

from tests import ROOT
from tests.slurm_site import offline_pip
from tests.testbed import topology
from tests.testbed.two_sites import TwoSites
from tests.topology_site import dask_blueprint, site_allocation
from tests.waiting import wait_until_awaited

pytestmark = [pytest.mark.timeout(600), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]

ECHO = "import socket, sys\nclient = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)\nclient.sendall(b'hello from the node')\nprint(client.recv(100).decode())"


async def echo_server(reply: bytes) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(reply)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def test_a_node_reaches_the_laptop_through_the_relay(two_sites: TwoSites, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    net = two_sites.net
    with net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            allocation = await site_allocation(engine, two_sites, "a")
            executor = engine.access.executor(allocation)
            server = await echo_server(b"the laptop answers")
            port = server.sockets[0].getsockname()[1]
            relay = await executor.connect_back(port)
            assert relay.host == "sitea-login"
            direct = await asyncio.to_thread(net.run, "a-node1", ["python3", "-c", ECHO, "10.77.10.1", str(port)])
            assert direct.returncode != 0, "the node cannot reach the laptop by itself"
            through = await asyncio.to_thread(net.run, "a-node1", ["python3", "-c", ECHO, relay.host, str(relay.port)])
            assert through.stdout.strip() == "the laptop answers", through.stderr
            assert await executor.connect_back(port) == relay, "one relay per port while the connection lasts"
            await executor.close()

            async def relay_gone() -> bool:
                return (await asyncio.to_thread(net.run, "a-node1", ["python3", "-c", ECHO, relay.host, str(relay.port)])).returncode != 0

            await wait_until_awaited(relay_gone, 10, "the relay to end with the connection")
            rebuilt = await executor.connect_back(port, relay_port=relay.port)
            assert rebuilt.port == relay.port, "a reconnect rebuilds the relay at the same address"
            again = await asyncio.to_thread(net.run, "a-node1", ["python3", "-c", ECHO, relay.host, str(relay.port)])
            assert again.stdout.strip() == "the laptop answers"
            server.close()
        finally:
            await engine.close()


async def test_validation_finds_which_way_back_a_node_has(two_sites: TwoSites, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            validated = await engine.access.validate(await site_allocation(engine, two_sites, "a"))
            assert not engine.access.executor(validated)._relays, "the probe's relay ended with the stage"
        finally:
            await engine.close()
    stages = {stage.stage: stage for stage in validated.report}
    assert validated.state is AllocationState.READY, validated.report[-1]
    assert stages["reachability"].detail == "compute nodes reach: the login node \u2714, this machine \u2716 (through the login node \u2714)"
    assert (validated.reach.this_machine, validated.reach.through_login, validated.reach.login_node) == (False, True, True)


MANAGER = ROOT / "tests" / "blueprints" / "wq_manager.py"


async def test_work_queue_workers_on_a_site_reach_a_head_here_through_the_relay(two_sites: TwoSites, tmp_path, monkeypatch) -> None:
    """The head on the laptop, pilots on site a's nodes (which cannot reach the laptop): workers are
    told the relay on their login node and the user's manager gets its tasks done there."""
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    blueprint = Blueprint(
        name="relayed",
        middleware=MiddlewareKind.WORKQUEUE,
        workers=WorkerSpec(count=2, walltime=1800, idle_timeout=60),
        allocations=[AllocationUse(name="a")],
    )
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            await engine.access.validate(await site_allocation(engine, two_sites, "a"))
            cluster = await engine.launch(blueprint)
            row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING and "relay-a" in r.cluster.head.ports, 120)
            assert row.cluster.state is ClusterState.RUNNING, row.cluster.reason
            out = tmp_path / "manager.out"
            with out.open("wb") as sink:
                code = await engine.run_entry(cluster.id, ["/usr/bin/python3", str(MANAGER), "/home/vc3test/tasks.log", "4", "1"], tmp_path, stdout=sink.fileno(), stderr=sink.fileno())
            assert code == 0, out.read_text()
            events = [e.message for e in await engine.cluster_events(cluster.id)]
            assert any("reach the head through their login node (sitea-login:" in m for m in events), events
            head = (await engine.status(cluster.id)).cluster.head
            executor = engine.access.executor(await engine.allocation("a"))
            first = executor._relays[head.ports["manager"]][1]
            await executor.close()  # the link drops, and the relay with it

            async def relay_answers() -> bool:
                probe = f"import socket; socket.create_connection(('sitea-login', {head.ports['relay-a']}), 2).close()"
                return (await asyncio.to_thread(two_sites.net.run, "a-node1", ["python3", "-c", probe])).returncode == 0

            async def relay_back() -> bool:
                rebuilt = executor._relays.get(head.ports["manager"], (None, first))[1] is not first
                return rebuilt and await relay_answers()

            async def relay_ended() -> bool:
                return head.ports["manager"] not in executor._relays and not await relay_answers()

            await wait_until_awaited(relay_back, 60, "the relay rebuilt at the same port")
            await engine.terminate(cluster.id, peaceful=False)
            await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
            await wait_until_awaited(relay_ended, 10, "the relay to end with the cluster, while the connection stays")
        finally:
            await engine.close()
    starts = [line.split() for line in (two_sites.home("a") / "tasks.log").read_text().splitlines() if " start " in line]
    assert sorted(int(s[0]) for s in starts) == [0, 1, 2, 3]


WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


async def test_auto_puts_a_dask_head_on_the_login_node_of_a_site_that_cannot_reach_here(two_sites: TwoSites, tmp_path, monkeypatch) -> None:
    """Dask's scheduler dials its workers, so a relay is not enough: `auto` puts the head on site a's
    login node, its workers join there, and its dashboard opens on this machine through a local
    forward; the same cluster over both sites is refused with what works."""
    if not any(WHEELHOUSE.glob("distributed-*.whl")):
        pytest.skip("no wheelhouse: tests/run downloads it before the tests")
    offline_pip(two_sites.home("a"), WHEELHOUSE)
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    blueprint = dask_blueprint("dasky", "a", 1)
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            for site in "ab":
                await engine.access.validate(await site_allocation(engine, two_sites, site))
            both = blueprint.model_copy(update={"name": "both", "allocations": [AllocationUse(name="a"), AllocationUse(name="b")]})
            with pytest.raises(EngineError, match="^no one dask head can serve a and b: a's nodes reach nothing outside their site"):
                await engine.launch(both)
            assert [row.cluster.name for row in await engine.cluster_rows()] == [], "nothing was recorded"
            cluster = await engine.launch(blueprint)
            assert (cluster.blueprint.head.placement, cluster.blueprint.head.allocation) == (HeadPlacement.ALLOCATION, "a")
            row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 1 or r.cluster.state is ClusterState.FAILED, 400)
            assert row.counts.joined == 1, row.cluster.reason
            events = [e.message for e in await engine.cluster_events(cluster.id)]
            assert "head on a's login node (auto: its nodes cannot reach this machine)" in events
            links = dict(await engine.head_links(cluster.id))
            assert links["dashboard"].startswith("http://127.0.0.1:") and links["scheduler"].startswith("tls://127.0.0.1:"), links
            async with httpx.AsyncClient(timeout=10) as client:
                assert (await client.get(links["dashboard"].replace("/status", "/api/v1/get_workers"))).status_code == 200
            await engine.terminate(cluster.id, peaceful=False)
            await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        finally:
            await engine.close()
    assert two_sites.slurm("a", ["squeue", "-h"]).stdout.strip() == "", "nothing left on site a"

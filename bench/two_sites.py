"""Two sites whose compute nodes cannot reach the laptop (the namespace test bed of
tests/testbed/topology.py and two_sites.py; needs root): what connect-back costs.

1. Work Queue task rate, 1,000 tasks that do nothing on four workers of site a: the manager on the
   laptop, its workers reaching it through the relay on a's login node and the SSH connection, vs
   the manager on a's login node itself (head placement "allocation"), which the workers reach
   directly. Target: at least 0.8x.
2. Time from launch to 16 Work Queue workers over both sites (8 each, through both relays) vs
   8 on site a alone, as the manager counts them, and vs 16 on site a alone (the same number of
   processes starting on this machine's cores). Target: at most 1.2x.

The sides take turns, REPEATS runs each, and each pair's ratio is taken (bench/results.paired_ratio).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import note, paired_ratio, record  # noqa: E402
from tests.testbed.sshd import USER  # noqa: E402
from tests.testbed.topology import Topology, usable  # noqa: E402
from tests.testbed.two_sites import TwoSites  # noqa: E402
from tests.topology_site import site_allocation  # noqa: E402
from vc3tui.engine.engine import Engine  # noqa: E402
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware  # noqa: E402
from vc3tui.engine.models import AllocationUse, Blueprint, Cluster, HeadPlacement, HeadSpec, MiddlewareKind, WorkerSpec  # noqa: E402
from vc3tui.engine.paths import Dirs  # noqa: E402
from vc3tui.engine.states import ClusterState  # noqa: E402

REPEATS = 5
TASKS = 1000
RATE_WORKERS = 4
THROUGHPUT = ROOT / "bench" / "wq_throughput.py"
CLOCK = ROOT / "bench" / "wq_manager_clock.py"


def blueprint(name: str, count: int, allocations: list[str], head: HeadSpec | None = None) -> Blueprint:
    return Blueprint(
        name=f"{name}-{time.monotonic_ns()}", middleware=MiddlewareKind.WORKQUEUE,
        workers=WorkerSpec(count=count, walltime=3600, idle_timeout=600), allocations=[AllocationUse(name=a) for a in allocations],
        head=head or HeadSpec(),
    )  # fmt: skip


async def manager_output(engine: Engine, cluster: Cluster, script: Path, *args: str) -> float:
    """Run a manager script where the cluster's head is, told its port and password; its one number."""
    env = WorkQueueMiddleware().client_environment(cluster)
    out = Path(os.environ["BENCH_SCRATCH"]) / f"{cluster.name}.out"
    with out.open("wb") as sink:
        argv = ["/usr/bin/python3", str(script), env["VC3_WQ_PORT"], env["VC3_WQ_PASSWORD_FILE"], *args]
        code = await engine.run_entry(cluster.id, argv, out.parent, stdout=sink.fileno(), stderr=sink.fileno())
    if code:
        raise RuntimeError(f"{script.name} exited with status {code}: {out.read_text()[-500:]}")
    return float(out.read_text().split()[-1])


async def running(engine: Engine, blueprint: Blueprint) -> Cluster:
    cluster = await engine.launch(blueprint)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is not ClusterState.NEW and r.cluster.state is not ClusterState.STARTING_HEAD, 300)
    if row.cluster.state is not ClusterState.RUNNING:
        raise RuntimeError(f"{blueprint.name}: {row.cluster.state}: {row.cluster.reason}")
    return row.cluster


async def ended(engine: Engine, cluster: Cluster) -> None:
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)


async def task_rates(engine: Engine, sites: TwoSites) -> tuple[list[float], list[float]]:
    """Both clusters stay up; their managers take turns (the login node's reads its script from a's home)."""
    on_login = sites.home("a") / THROUGHPUT.name
    shutil.copy(THROUGHPUT, on_login)
    shutil.chown(on_login, USER, USER)
    relayed = await running(engine, blueprint("relayed", RATE_WORKERS, ["a"]))
    direct = await running(engine, blueprint("direct", RATE_WORKERS, ["a"], HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="a")))
    rates: tuple[list[float], list[float]] = ([], [])
    try:
        for _ in range(REPEATS):
            rates[0].append(await manager_output(engine, relayed, THROUGHPUT, str(RATE_WORKERS), str(TASKS)))
            rates[1].append(await manager_output(engine, direct, Path("/home") / USER / THROUGHPUT.name, str(RATE_WORKERS), str(TASKS)))
            print(f"  tasks/s: through the relay {rates[0][-1]:.1f}, on the login node {rates[1][-1]:.1f}", flush=True)
    finally:
        await ended(engine, relayed)
        await ended(engine, direct)
    return rates


async def time_to(engine: Engine, workers: int, allocations: list[str]) -> float:
    started = time.time()
    cluster = await running(engine, blueprint("spread", workers, allocations))
    try:
        return await manager_output(engine, cluster, CLOCK, str(workers)) - started
    finally:
        await ended(engine, cluster)


async def measure(sites: TwoSites) -> None:
    engine = Engine(Dirs.from_environment(), interactive=False)
    try:
        for site in "ab":
            await engine.access.validate(await site_allocation(engine, sites, site))
        relayed, direct = await task_rates(engine, sites)
        ratio = paired_ratio(relayed, direct)
        record(f"Work Queue, {TASKS} tasks: head here through the relay", relayed, "head on the login node", direct,
               unit="tasks/s", target="ratio >= 0.8", met=ratio >= 0.8, paired=True)  # fmt: skip
        times: tuple[list[float], list[float], list[float]] = ([], [], [])
        for _ in range(REPEATS):
            for into, (workers, allocations) in zip(times, ((16, ["a", "b"]), (8, ["a"]), (16, ["a"]))):
                into.append(await time_to(engine, workers, allocations))
            print(f"  16 workers over two sites {times[0][-1]:.2f} s, 8 on one {times[1][-1]:.2f} s, 16 on one {times[2][-1]:.2f} s", flush=True)
        for baseline, samples in (("8 workers on one site", times[1]), ("16 workers on one site", times[2])):
            ratio = paired_ratio(times[0], samples)
            record("time to 16 workers over two sites (relays)", times[0], baseline, samples, unit="s", target="ratio <= 1.2", met=ratio <= 1.2, paired=True)
        note("two sites: network namespaces on one machine, so the relay's cost is its copies and the SSH connection's, not a WAN's latency; "
             "and every site's nodes share this machine's cores: 16 workers start on the CPU that 8 have against one site, which 16 on one "
             "site (two nodes of 8 slots) shows apart from spanning two sites")  # fmt: skip
    finally:
        await engine.close()


def main() -> int:
    reason = usable()
    if reason:
        print(f"skipped: {reason}")
        return 0
    net = Topology().up()
    sites = TwoSites(net)
    scratch = Path(net.root) / "bench"
    scratch.mkdir()
    os.environ["BENCH_SCRATCH"] = str(scratch)
    os.environ["VC3TUI_HOME"] = str(scratch / "vc3home")
    try:
        sites.start()
        with net.entered("laptop"):
            asyncio.run(measure(sites))
    finally:
        sites.stop()
        net.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())

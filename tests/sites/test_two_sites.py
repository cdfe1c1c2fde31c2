"""Clusters over two sites, for real, on the namespace test bed: a Work Queue head on the laptop
with pilots on both sites, whose nodes reach it only through the relays on their login nodes; a
site's link cut for 45 s (its pilots unknown, never lost, then tracked again and working), and
cut for good (its share moves to the other site, and a terminate after it returns leaves nothing)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import QuestionKind
from vc3tui.engine.states import ClusterState, PilotState

from tests import ROOT
from tests.ssh_site import Answers
from tests.testbed import topology
from tests.testbed.sshd import PASSWORD
from tests.testbed.two_sites import TwoSites
from tests.topology_site import both_sites
from tests.waiting import wait_until_async

pytestmark = [pytest.mark.timeout(900), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]

MANAGER = ROOT / "tests" / "blueprints" / "wq_manager.py"
MAKEFLOW = 'exec makeflow -T wq -p "$VC3_WQ_PORT" -N "$VC3_WQ_PROJECT" --password "$VC3_WQ_PASSWORD_FILE" Makeflow'


def blueprint(name: str, count: int, weights: tuple[float, float], **workers) -> Blueprint:
    return Blueprint(
        name=name, middleware=MiddlewareKind.WORKQUEUE, workers=WorkerSpec(count=count, walltime=3600, **workers),
        allocations=[AllocationUse(name="a", weight=weights[0]), AllocationUse(name="b", weight=weights[1])],
    )  # fmt: skip


async def test_a_makeflow_runs_over_both_sites_spread_by_weight(two_sites: TwoSites, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    flow = tmp_path / "flow"
    flow.mkdir()
    (flow / "Makeflow").write_text("".join(f"out.{i}:\n\tsleep 0.3; uname -n > out.{i}\n\n" for i in range(200)))
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            await both_sites(engine, two_sites)
            cluster = await engine.launch(blueprint("spread", 8, (3, 1), idle_timeout=120))
            row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is not ClusterState.STARTING_HEAD and r.cluster.state is not ClusterState.NEW, 120)
            assert row.cluster.state is ClusterState.RUNNING, row.cluster.reason
            with (tmp_path / "makeflow.out").open("wb") as sink:
                code = await engine.run_entry(cluster.id, ["sh", "-c", MAKEFLOW], flow, stdout=sink.fileno(), stderr=sink.fileno())
            assert code == 0, (tmp_path / "makeflow.out").read_text()[-2000:]
            pilots = Counter(p.allocation for p in await engine.pilots(cluster.id) if p.state is PilotState.RUNNING)
            row = await engine.status(cluster.id)
            await engine.terminate(cluster.id, peaceful=False)
            await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        finally:
            await engine.close()
    assert pilots == {"a": 6, "b": 2}, "the allocations' weights, 3:1"
    assert set(row.cluster.head.ports) >= {"relay-a", "relay-b"}
    hosts = Counter((flow / f"out.{i}").read_text().strip() for i in range(200))
    sites = Counter(host.split("-")[0] for host in hosts.elements())
    assert set(sites) == {"sitea", "siteb"}, hosts
    assert sites["sitea"] > sites["siteb"], f"six workers on a, two on b: {hosts}"


def task_starts(two_sites: TwoSites, site: str, since: float = 0.0) -> int:
    """Tasks that started on `site` after `since` (its own home's log: the sites share nothing)."""
    log = two_sites.home(site) / "tasks.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if " start " in line and float(line.split()[-1]) > since)


async def test_a_cut_site_comes_back_and_one_cut_for_good_fails_over(two_sites: TwoSites, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    net = two_sites.net
    with net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        manager = None
        try:
            await both_sites(engine, two_sites)
            cluster = await engine.launch(blueprint("cut", 4, (1, 1), idle_timeout=900, head_timeout=70))
            await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 120)
            sink = (tmp_path / "manager.out").open("wb")
            argv = ["/usr/bin/python3", str(MANAGER), "/home/vc3test/tasks.log", "5000", "1"]
            manager = asyncio.ensure_future(engine.run_entry(cluster.id, argv, tmp_path, stdout=sink.fileno(), stderr=sink.fileno()))
            await wait_until_async(lambda: task_starts(two_sites, "b") > 0, 180, "tasks on site b")
            b_jobs = sorted(p.job_id for p in await engine.pilots(cluster.id) if p.allocation == "b")

            net.cut("b-login")  # for 45 s: longer than a status query may take, shorter than the head timeout
            cut, on_a = time.time(), task_starts(two_sites, "a")
            row = await engine.wait_for(cluster.id, lambda r: r.counts.sites["b"].unknown == 2, 60)
            assert row.counts.sites["b"].unknown == 2, row.counts
            await asyncio.sleep(max(0.0, cut + 45 - time.time()))
            assert task_starts(two_sites, "a") > on_a, "the run goes on with site a"
            net.cut("b-login", mend=True)
            mended = time.time()
            row = await engine.wait_for(cluster.id, lambda r: r.counts.sites["b"].running == 2, 120)
            assert row.counts.sites["b"] == row.counts.sites["b"].model_copy(update={"running": 2, "unknown": 0}), row.counts
            assert sorted(p.job_id for p in await engine.pilots(cluster.id) if p.allocation == "b") == b_jobs, "the same jobs, re-adopted"
            await wait_until_async(lambda: task_starts(two_sites, "b", mended) > 0, 240, "tasks on site b again")

            net.cut("b-login")  # for good
            row = await engine.wait_for(cluster.id, lambda r: r.counts.sites["a"].running + r.counts.sites["a"].queued >= 4, 300)
            assert row.counts.sites["a"].running + row.counts.sites["a"].queued == 4, row.counts
            events = [e.message for e in await engine.cluster_events(cluster.id, limit=1000)]
            assert any(m.startswith("allocation b has not answered for") and "its share moves to the other allocations" in m for m in events), events
            pilots = await engine.pilots(cluster.id)
            assert not [p for p in pilots if p.state is PilotState.LOST], "a silent site's pilots are unknown, never lost"

            net.cut("b-login", mend=True)
            await engine.wait_for(cluster.id, lambda r: r.counts.sites["b"].unknown == 0, 120)
            manager.cancel()
            await engine.terminate(cluster.id, peaceful=False)
            row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
            assert row.cluster.state is ClusterState.TERMINATED, row.cluster.reason
            events = [e.message for e in await engine.cluster_events(cluster.id, limit=1000)]
            assert any(m.startswith("allocation b answers again after") for m in events), events
        finally:
            if manager:
                manager.cancel()
                await asyncio.gather(manager, return_exceptions=True)
            await engine.close()
    assert two_sites.slurm("b", ["squeue", "-h"]).stdout.strip() == "", "nothing left in b's queue"
    for site in "ab":  # the same path on both sites: each site's own removed
        assert not list(two_sites.home(site).glob(f"**/clusters/{cluster.id}")), f"no pilot dirs left on {site}"


@pytest.mark.parametrize("two_sites", [{"mfa_site": "b"}], indirect=True)
async def test_a_password_and_code_site_beside_a_key_site_asks_once(two_sites: TwoSites, tmp_path: Path, monkeypatch) -> None:
    """Site b takes a password and a code, site a the allocation's key: validating both, a cluster
    with pilots and work on both and its teardown ask the person once, over the kept connection."""
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=True)
        answers = Answers(engine, {QuestionKind.PASSWORD: PASSWORD, QuestionKind.OTP: two_sites.totp})
        try:
            await both_sites(engine, two_sites)
            cluster = await engine.launch(blueprint("mfa", 2, (1, 1), idle_timeout=60))
            await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 120)
            with (tmp_path / "manager.out").open("wb") as sink:
                argv = ["/usr/bin/python3", str(MANAGER), "/home/vc3test/tasks.log", "8", "1"]
                code = await engine.run_entry(cluster.id, argv, tmp_path, stdout=sink.fileno(), stderr=sink.fileno())
            assert code == 0, (tmp_path / "manager.out").read_text()[-2000:]
            await engine.terminate(cluster.id, peaceful=False)
            row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
            assert row.cluster.state is ClusterState.TERMINATED, row.cluster.reason
        finally:
            answers.task.cancel()
            await engine.close()
    assert answers.asked == Counter({QuestionKind.PASSWORD: 1, QuestionKind.OTP: 1}), answers.prompts
    assert task_starts(two_sites, "a") + task_starts(two_sites, "b") == 8
    assert task_starts(two_sites, "b") > 0, "site b's pilots worked too"

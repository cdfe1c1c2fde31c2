"""The bare node: a job on site b's nodes finds python3, a C compiler and make and none of the
middleware, which a job on site a (this machine's own root) has; what a job writes to the home,
the login node sees. A Dask cluster runs there with everything brought by the builder (the
node's python3 cannot even put pip in a venv), and a second cluster builds nothing. `soak` runs:
the node's root takes about 90 s to make once."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState

from tests import ROOT
from tests.builder_site import stage
from tests.slurm_site import offline_pip
from tests.testbed import topology
from tests.testbed.sshd import USER
from tests.topology_site import dask_blueprint, site_allocation
from tests.testbed.two_sites import TwoSites

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]

CHECK = """\
for p in python3 cc make java work_queue_worker condor_master; do command -v "$p" >/dev/null && echo "has $p" || echo "no $p"; done
python3 -c 'import dask' 2>/dev/null && echo "has dask" || echo "no dask"
printf 'int main(void) { return 0; }\\n' > hello.c && cc -o hello hello.c && ./hello && echo compiled
uname -n > from-node
"""

MIDDLEWARE = ("java", "work_queue_worker", "condor_master")


@pytest.mark.parametrize("two_sites", [{"bare_site": "b"}], indirect=True)
def test_a_bare_nodes_jobs_find_a_compiler_and_no_middleware(two_sites: TwoSites) -> None:
    bare = two_sites.job("b", CHECK).splitlines()
    assert bare == ["has python3", "has cc", "has make", *(f"no {p}" for p in MIDDLEWARE), "no dask", "compiled"], bare
    seen = two_sites.net.run("b-login", ["cat", f"{pwd.getpwnam(USER).pw_dir}/from-node"])
    assert seen.stdout.startswith("siteb-node"), f"the login node sees what a node wrote to the home: {seen}"
    full = two_sites.job("a", CHECK).splitlines()
    assert {f"has {p}" for p in ("java", "work_queue_worker")} <= set(full), f"site a's nodes are this machine's own root: {full}"


WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
PIP_WHEEL = ROOT / ".cache" / "distfiles" / "pip-25.0.1-py3-none-any.whl"
WHERE = "from dask.distributed import Client; import socket; print(*sorted(Client().run(socket.gethostname).values()))"


@pytest.mark.parametrize("two_sites", [{"bare_site": "b"}], indirect=True)
async def test_a_dask_cluster_on_the_bare_site_brings_its_software_and_a_second_builds_nothing(two_sites: TwoSites, tmp_path: Path, monkeypatch) -> None:
    assert two_sites.job("b", CHECK).splitlines()[3:7] == [*(f"no {p}" for p in MIDDLEWARE), "no dask"], "the node is bare"
    offline_pip(two_sites.home("b"), WHEELHOUSE)  # the site has no index: its people staged the wheels
    stage(PIP_WHEEL, two_sites.home("b") / ".vc3tui" / "builder", "distfiles", owner=USER)  # for the nodes' python, which has no ensurepip
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    blueprint = dask_blueprint("bare", "b", 2)
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            await engine.access.validate(await site_allocation(engine, two_sites, "b"))
            plans = []
            for name in ("bare", "again"):
                cluster = await engine.launch(blueprint.model_copy(update={"name": name}))
                row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2 or r.cluster.state is ClusterState.FAILED, 600)
                assert row.counts.joined == 2, row.cluster.reason
                with (tmp_path / f"{name}.out").open("wb") as sink:
                    code = await engine.run_entry(cluster.id, ["python", "-c", WHERE], tmp_path, stdout=sink.fileno(), stderr=sink.fileno())
                assert code == 0, (tmp_path / f"{name}.out").read_text()[-2000:]
                hosts = (tmp_path / f"{name}.out").read_text().splitlines()[-1].split()
                assert len(hosts) == 2 and set(hosts) <= {"siteb-node1", "siteb-node2"}, f"both workers on the bare nodes: {hosts}"
                plans.append([e.message for e in await engine.cluster_events(cluster.id) if e.message.startswith("software on b (")])
                await engine.terminate(cluster.id, peaceful=False)
                await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        finally:
            await engine.close()
    assert "to build" in plans[0][0] and "to build" not in plans[1][0], plans

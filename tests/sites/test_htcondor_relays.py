"""An HTCondor pool over two sites whose compute nodes cannot reach the laptop, on the namespace
test bed: the head on the laptop, each site's glideins joining it through the relay on their own
login node (each site sees the head at a different relay address), the user's jobs running on
both sites. Neither the laptop nor the sites have HTCondor: every program comes from the tarball
each builder unpacks."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs

from tests.condor_laptop import run_as_user
from tests.testbed import topology
from tests.testbed.condor_tarball import offer
from tests.testbed.sshd import USER
from tests.testbed.two_sites import TwoSites
from tests.topology_site import both_sites

pytestmark = [pytest.mark.timeout(900), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]


@pytest.fixture
def home():
    """The laptop user's VC3TUI_HOME, where they can reach it (pytest's own tmp dirs are root's)."""
    made = Path(tempfile.mkdtemp(prefix="vc3tui-laptop-"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


async def test_glideins_on_two_sites_join_a_head_on_the_laptop_through_their_relays(two_sites: TwoSites, condor_tarball: Path, home: Path) -> None:
    with two_sites.net.entered("laptop"):
        engine = Engine(Dirs(config=home / "config", data=home / "data", cache=home / "cache").ensure(), interactive=False)
        try:
            for site, validated in zip("ab", await both_sites(engine, two_sites)):
                offer(condor_tarball, two_sites.home(site) / Path(validated.workdir).relative_to(f"/home/{USER}") / "builder", owner=USER)
        finally:
            await engine.close()
    offer(condor_tarball, home / "cache" / "builder")
    workers = WorkerSpec(count=2, walltime=1800, idle_timeout=600)
    blueprint = Blueprint(name="relayed", middleware=MiddlewareKind.HTCONDOR, workers=workers, allocations=[AllocationUse(name="a"), AllocationUse(name="b")])
    seen = run_as_user(two_sites.net, home, blueprint, jobs=10)

    assert seen["joined"] == 2, "\n".join(seen["events"])
    assert {"relay-a", "relay-b"} <= set(seen["ports"]), seen["ports"]
    assert seen["starts"] == [1] * 10
    sites = Counter(seen["pilots"][tag] for tag in seen["ran_on"])
    assert set(sites) == {"a", "b"}, f"jobs ran on both sites' glideins: {sites}"
    assert seen["terminated"], seen["events"][-5:]
    assert two_sites.slurm("a", ["squeue", "-h"]).stdout.strip() == two_sites.slurm("b", ["squeue", "-h"]).stdout.strip() == ""

"""Allocations on the namespace test bed's sites (tests/testbed/two_sites.py), for every test that
runs an engine on its laptop."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Allocation, AllocationUse, BatchKind, Blueprint, Environment, MiddlewareKind, Resource, WorkerSpec
from vc3tui.engine.sshlib import asyncssh

from tests.testbed.sshd import USER
from tests.testbed.two_sites import TwoSites


def authorize(home: Path, public_line: str) -> None:
    """The key in the test user's authorized_keys in `home` (a site's own home), as they would add it."""
    keys = home / ".ssh" / "authorized_keys"
    keys.parent.mkdir(mode=0o700, exist_ok=True)
    keys.write_text(public_line + "\n")
    keys.chmod(0o600)
    for path in (keys.parent, keys):
        shutil.chown(path, USER, USER)


async def site_allocation(engine: Engine, two_sites: TwoSites, site: str, **resource) -> Allocation:
    """An allocation named `site` on resource `site<site>`, its key installed, reached at the login
    node's address as the laptop sees it."""
    host = two_sites.net.address_of(f"{site}-login", "laptop")
    engine.save_resource(Resource(name=f"site{site}", login_hosts=[host], port=22, batch=BatchKind.SLURM, poll_interval=1, **resource))
    engine.access.host_keys.add(host, 22, asyncssh.read_public_key(two_sites.host_key(f"{site}-login")))
    allocation, pair = await engine.access.create(site, f"site{site}", USER)
    authorize(two_sites.home(site), pair.public_line)
    return allocation


async def both_sites(engine: Engine, two_sites: TwoSites) -> list[Allocation]:
    """Both sites' allocations, validated at once, each reaching the laptop only
    through its login node."""
    allocations = [await site_allocation(engine, two_sites, site) for site in "ab"]
    validated = await asyncio.gather(*(engine.access.validate(allocation) for allocation in allocations))
    for allocation in validated:
        assert not allocation.reach.this_machine and allocation.reach.through_login, allocation.report[-1]
    return validated


def dask_blueprint(name: str, site: str, count: int) -> Blueprint:
    """A Dask cluster on one site, its software pip-installed there (from the site's wheelhouse)."""
    return Blueprint(
        name=name, middleware=MiddlewareKind.DASK, environment=Environment(pip=["dask[distributed]"]),
        workers=WorkerSpec(count=count, walltime=1800, memory_mb=1000), allocations=[AllocationUse(name=site)],
    )  # fmt: skip

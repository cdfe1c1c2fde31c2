"""Where a cluster's parts run: each allocation as a Site (its kept executor, batch system and
working dir), the head's site, the builder as each site runs it, and what programs there are told.

Built once per engine and handed to the factory, the head and the gate: the allocations a
cluster uses are loaded once, so a cycle finds its sites without a store call.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

from vc3tui.engine.access import SiteAccess
from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.batch import batch_system
from vc3tui.engine.catalog import LOCAL, local_allocation
from vc3tui.engine.errors import EngineError
from vc3tui.engine.middleware.registry import middleware_for
from vc3tui.engine.models import Allocation, Cluster, HeadPlacement, Reach
from vc3tui.engine.paths import Dirs, shipped_dir
from vc3tui.engine.site import Site
from vc3tui.engine.staging import embedded_builder, stage_builder
from vc3tui.engine.store import Store


class Sites:
    def __init__(self, dirs: Dirs, store: AsyncStore, access: SiteAccess) -> None:
        self.dirs = dirs
        self.store = store
        self.access = access
        self._allocations: dict[str, Allocation] = {}
        self._builders: dict[tuple[str, str], asyncio.Future[str]] = {}

    async def close(self) -> None:
        for staging in self._builders.values():
            staging.cancel()
        await asyncio.gather(*self._builders.values(), return_exceptions=True)

    async def prepare(self, cluster: Cluster) -> None:
        """Load the cluster's allocations once, so each cycle finds its sites without a store call."""
        names = [use.name for use in cluster.blueprint.allocations]
        if cluster.blueprint.head.placement is HeadPlacement.ALLOCATION:
            names.append(cluster.blueprint.head.allocation)
        for name in names:
            if name == LOCAL:
                continue
            allocation = await self.store.run(Store.allocation, name)
            if allocation is None:
                raise EngineError(f"no allocation named {name!r}; `vc3tui allocation list` shows them")
            self._allocations[name] = allocation

    def reach(self, allocation: str) -> Reach | None:
        """What the allocation's compute nodes reach, as its validation found (None: not known)."""
        record = self._allocations.get(allocation)
        return record.reach if record else None

    def site(self, cluster: Cluster, allocation: str) -> Site:
        """Where an allocation's pilots run: its kept executor, batch system and working dir."""
        record = local_allocation() if allocation == LOCAL else self._allocations.get(allocation)
        if record is None:
            raise EngineError(f"allocation {allocation} is not loaded; it was deleted while the cluster ran")
        resource = self.access.resource_of(record)
        executor = self.access.executor(record)
        if executor is self.access.local:
            base = self.dirs.data if allocation == LOCAL else self.dirs.data / "sites" / allocation
        elif record.workdir:
            base = Path(record.workdir)
        else:
            raise EngineError(f"allocation {allocation} has no working dir yet; run `vc3tui allocation validate {allocation}`")
        return Site(
            allocation=allocation,
            executor=executor,
            batch=batch_system(resource.batch),
            workdir=f"{base}/clusters/{cluster.id}",
            poll_interval=float(resource.poll_interval),
            host=record.landed_on or (resource.login_hosts[0] if resource.login_hosts else "localhost"),
            account=record.account,
            partition=resource.partition,
            batch_options=(*resource.batch_options, *record.batch_options),
            shared_filesystem=resource.shared_filesystem,
        )

    def pilot_sites(self, cluster: Cluster) -> list[Site]:
        return [self.site(cluster, use.name) for use in cluster.blueprint.allocations]

    def head_site(self, cluster: Cluster) -> Site:
        """Where the head runs: this machine, or the allocation the blueprint places it on."""
        head = cluster.blueprint.head
        return self.site(cluster, head.allocation if head.placement is HeadPlacement.ALLOCATION else LOCAL)

    def is_local(self, site: Site) -> bool:
        return site.executor is self.access.local

    def where(self, site: Site) -> str:
        """The site as a person names it: this machine, or the allocation and its login host."""
        return "this machine" if self.is_local(site) else f"{site.allocation} ({site.host})"

    def listen_host(self, cluster: Cluster) -> str:
        """Where the head's manager listens: the blueprint's `head.listen`; else loopback when every
        pilot runs on this machine; else every interface (with TLS where the middleware has it)."""
        if cluster.blueprint.head.listen:
            return cluster.blueprint.head.listen
        local_only = all(use.name == LOCAL for use in cluster.blueprint.allocations)
        return "127.0.0.1" if local_only else "0.0.0.0"

    async def builder_command(self, cluster: Cluster, site: Site) -> list[str]:
        """The builder and its options for this cluster's environment, as the site will run it."""
        env = cluster.blueprint.environment
        if not site.shared_filesystem:
            # compute nodes see none of the login node's files: the pilot carries the builder,
            # which installs under the node's own $SCRATCH or home
            argv = list(embedded_builder())
        elif self.is_local(site):
            # the bootstrap hands a pilot an answer it kept without starting python; when it has
            # to start one, it is the one running us (looking for another, a pyenv shim alone
            # costs a tenth of a second)
            bootstrap = str(shipped_dir("builder") / "vc3-builder")
            argv = ["env", f"VC3_BUILDER_PYTHON={sys.executable}", "sh", bootstrap, "--install", str(self.dirs.cache / "builder")]
        else:
            site_root = site.workdir.rsplit("/clusters/", 1)[0]
            argv = ["sh", await self._staged_builder(site, f"{site_root}/builder"), "--install", f"{site_root}/builder"]
        if env.os:
            argv += ["--require-os", env.os]
        for mount in env.mounts:
            argv += ["--mount", mount]
        for requirement in env.require:
            argv += ["--require", requirement]
        for spec in env.pip:
            argv += ["--pip", spec]
        for name, value in sorted(env.variables.items()):
            argv += ["--var", f"{name}={value}"]
        return argv

    async def _staged_builder(self, site: Site, directory: str) -> str:
        """The builder staged on the site once per process: callers at the same moment (the warm-up
        and the first submission) share one round trip; a failed staging is tried again."""
        key = (site.allocation, directory)
        task = self._builders.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._builders[key] = asyncio.ensure_future(stage_builder(site.executor, directory))
        return await asyncio.shield(task)


def each_once(sites: Iterable[Site]) -> list[Site]:
    """Each allocation's site once (a head on an allocation shares its pilots' site): by name, as
    two sites may well keep their clusters under the same path."""
    return list({site.allocation: site for site in sites}.values())


def cluster_environment(cluster: Cluster) -> dict[str, str]:
    """What every program of the cluster is told: which cluster it belongs to."""
    return {"VC3_CLUSTER": cluster.name, "VC3_CLUSTER_ID": cluster.id}


def client_environment(cluster: Cluster) -> dict[str, str]:
    """What a program on the head needs to use the cluster: its name and the manager's address."""
    return {**cluster_environment(cluster), **middleware_for(cluster.blueprint.middleware).client_environment(cluster)}


async def pilot_log(site: Site, tag: str, lines: int) -> str:
    """The end of a pilot's worker log, or its build log before the worker started."""
    script = (
        f"cd {shlex.quote(f'{site.workdir}/pilots/{tag}')} 2>/dev/null || {{ echo 'no pilot directory yet (the job has not started)'; exit 0; }}\n"
        f"for f in worker.log build.log; do [ -s \"$f\" ] && {{ echo \"== $f\"; tail -n {int(lines)} \"$f\"; exit 0; }}; done\n"
        "echo 'no output yet'\n"
    )
    result = await site.executor.run_script(script, timeout=60)
    return result.stdout if result.ok else f"could not read the log: {result.summary()}"

"""The Engine facade: the one object the TUI and the headless runner call.

It owns the store, the catalog, the question channel, the sites (one kept executor per allocation)
and one factory per cluster this process manages. Callers launch, resize and terminate; they learn
what happened from the event stream and from the store, never by blocking on a site.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from vc3tui.engine.access import SiteAccess
from vc3tui.engine.async_store import AsyncStore, default_owner
from vc3tui.engine.blueprint import BlueprintValues, blueprint_from, blueprint_toml, load_known_blueprint, resolve_environment
from vc3tui.engine.catalog import LOCAL, Catalog, CatalogFiles, local_allocation
from vc3tui.engine.durations import Duration
from vc3tui.engine.errors import EngineError, file_errors
from vc3tui.engine.events import EventBus
from vc3tui.engine.fields import WorkerCount, checked
from vc3tui.engine.interfaces import Terminal
from vc3tui.engine.lease import Lease
from vc3tui.engine.middleware.registry import middleware_for
from vc3tui.engine.counts import ClusterCounts
from vc3tui.engine.models import Allocation, Blueprint, Cluster, Environment, Event, Pilot, Resource
from vc3tui.engine.paths import Dirs, write_whole
from vc3tui.engine.placement import place_head
from vc3tui.engine.questions import QuestionChannel
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.services import Services
from vc3tui.engine.settings import remember, setting
from vc3tui.engine.shell import in_dir, with_env
from vc3tui.engine.sites import Sites, client_environment, pilot_log
from vc3tui.engine.software import builder_packages, with_middleware_software
from vc3tui.engine.states import ClusterState
from vc3tui.engine.store import CycleWrites, PilotLine, Store
from vc3tui.engine.worker_secrets import WorkerSecrets

if TYPE_CHECKING:
    from vc3tui.engine.factory import Factory
    from vc3tui.engine.projects import Projects


@dataclass(frozen=True)
class ClusterRow:
    """What a list of clusters shows for one cluster."""

    cluster: Cluster
    counts: ClusterCounts


class Engine:
    def __init__(self, dirs: Dirs | None = None, *, interactive: bool = True) -> None:
        self.dirs = (dirs or Dirs.from_environment()).ensure()
        self.store = AsyncStore(self.dirs.database)
        self.installation_id = self.store.store.installation_id
        self.redactor = Redactor()
        self.questions = QuestionChannel(interactive=interactive, on_secret=self.redactor.add)
        self.resources = CatalogFiles(self.dirs.user_resources, self.dirs.cache)
        self.access = SiteAccess(self.dirs, self.store, lambda: self.resources.catalog, self.questions)
        self.sites = Sites(self.dirs, self.store, self.access)
        self.bus = EventBus(self.store, self.redactor)
        self.lease = Lease(self.store, default_owner())
        self._factories: dict[str, tuple[Factory, asyncio.Task[None]]] = {}
        self._closed = False
        self._broken: dict[str, BaseException] = {}

    @functools.cached_property
    def projects(self) -> Projects:
        from vc3tui.engine.projects import Projects  # not needed to show the first view

        return Projects(self.dirs, self.store, self.resources, self.redactor)

    @property
    def warnings(self) -> list[str]:
        return list(self.store.store.warnings)

    @property
    def catalog(self) -> Catalog:
        return self.resources.catalog

    def save_resource(self, resource: Resource) -> None:
        """Add or replace a resource in the user's resources.toml; the catalog is read again."""
        with file_errors(self.dirs.user_resources, "save the resource"):
            self.resources.save(resource)

    def remove_resource(self, name: str) -> bool:
        """Remove a user resource (shipped ones cannot be); False when it was not the user's."""
        with file_errors(self.dirs.user_resources, "remove the resource"):
            return self.resources.remove(name)

    async def close(self) -> None:
        """Stop managing (clusters keep running; pilots end by their own timeouts); again does nothing."""
        if self._closed:
            return
        self._closed = True
        for _, task in list(self._factories.values()):
            task.cancel()
        await asyncio.gather(*(task for _, task in self._factories.values()), return_exceptions=True)
        self._factories.clear()
        await self.sites.close()
        await self.access.close()
        await self.store.close()

    # allocations and blueprints

    async def allocations(self) -> list[Allocation]:
        stored = await self.store.run(Store.allocations)
        return [local_allocation(), *(a for a in stored if a.name != LOCAL)]

    async def allocation(self, name: str) -> Allocation:
        if name == LOCAL:
            return local_allocation()
        allocation = await self.store.run(Store.allocation, name)
        if allocation is None:
            raise EngineError(f"no allocation named {name!r}; `vc3tui allocation list` shows them")
        return allocation

    async def delete_allocation(self, name: str) -> None:
        if name == LOCAL:
            raise EngineError("the local allocation is built in and cannot be deleted")
        if not await self.store.run(Store.delete_allocation, name):
            raise EngineError(f"no allocation named {name!r}")

    async def environments(self) -> list[Environment]:
        return await self.store.run(Store.environments)

    async def load_blueprint(self, path: Path) -> Blueprint:
        """Read and check a blueprint against this installation's allocations and environments."""
        return await load_known_blueprint(self.store, path)

    async def new_blueprint(self, values: BlueprintValues) -> Blueprint:
        """A blueprint from flags or a form, checked against this installation's allocations and
        named environments as a file would be."""
        allocations = {a.name for a in await self.allocations()}
        environments = {e.name for e in await self.environments() if e.name}
        return blueprint_from(values, allocations=allocations, environments=environments)

    async def save_blueprint(self, blueprint: Blueprint, path: Path) -> None:
        """Write a blueprint file (whole, or not at all)."""
        with file_errors(path, "write the blueprint"):
            await asyncio.to_thread(write_whole, path, blueprint_toml(blueprint).encode())

    def setting(self, name: str) -> str | None:
        """A remembered choice of the user's (settings.toml in the config dir)."""
        return setting(self.dirs, name)

    def remember(self, name: str, value: str) -> None:
        with file_errors(self.dirs.config, f"remember the {name}"):
            remember(self.dirs, name, value)

    def entry_is_manager(self, cluster: Cluster) -> bool:
        """Whether the entry point is the manager itself (Work Queue), so it starts with the head."""
        return middleware_for(cluster.blueprint.middleware).entry_is_manager

    async def builder_packages(self) -> list[str]:
        """The package names the shipped builder's recipes offer."""
        return await builder_packages()

    # clusters

    async def cluster_rows(self, *, include_terminated: bool = True) -> list[ClusterRow]:
        def rows(store: Store) -> list[ClusterRow]:
            return [ClusterRow(cluster, store.counts(cluster.id)) for cluster in store.clusters(include_terminated=include_terminated)]

        return await self.store.run(rows)

    async def status(self, cluster_id: str) -> ClusterRow:
        cluster = await self.store.run(Store.cluster, cluster_id)
        if cluster is None:
            raise EngineError(f"no cluster with id {cluster_id}")
        return ClusterRow(cluster, await self.store.run(Store.counts, cluster_id))

    async def pilots(self, cluster_id: str) -> list[Pilot]:
        return await self.store.run(Store.pilots, cluster_id)

    async def pilot_lines(self, cluster_id: str) -> list[PilotLine]:
        """The cluster's pilots as a table shows them (plain tuples, cheap at 10,000)."""
        return await self.store.run(Store.pilot_lines, cluster_id)

    async def cluster_events(self, cluster_id: str, *, limit: int = 200) -> list[Event]:
        """The cluster's latest events, oldest first."""
        return await self.store.run(Store.events, cluster_id, limit=limit)

    async def live_cluster(self, name: str) -> Cluster | None:
        return await self.store.run(Store.live_cluster_named, name)

    async def launch(self, blueprint: Blueprint) -> Cluster:
        """Record a new cluster and start managing it; a live cluster of that name is an error."""
        if await self.live_cluster(blueprint.name):
            raise EngineError(f"cluster {blueprint.name!r} is already running; resize or terminate it first")
        blueprint = with_middleware_software(resolve_environment(blueprint, await self.environments()))
        names = [use.name for use in blueprint.allocations] + [blueprint.head.allocation] * bool(blueprint.head.allocation)
        uses = {name: await self.allocation(name) for name in names}
        blueprint, placed = place_head(blueprint, uses, middleware_for(blueprint.middleware))
        expires_at = time.time() + blueprint.expiration if blueprint.expiration else None
        cluster = Cluster(id=secrets.token_hex(4), name=blueprint.name, blueprint=blueprint, requested=blueprint.workers.count, peaceful=blueprint.peaceful, expires_at=expires_at)
        await self.store.run(Store.put_cluster, cluster)
        launched = [Event(cluster_id=cluster.id, kind="state", message=f"new: launching {cluster.name} with {cluster.requested} workers")]
        await self.bus.commit(CycleWrites(events=launched + [Event(cluster_id=cluster.id, kind="head", message=placed)] * bool(placed)))
        await self.manage(cluster.id)
        return cluster

    async def manage(self, cluster_id: str) -> bool:
        """Run this cluster's factory here, unless a live process already does (the lease says)."""
        if cluster_id in self._factories:
            return True
        if not await self.lease.renew(cluster_id):
            return False
        from vc3tui.engine.factory import Factory  # the loop, its head and gate: not needed to show a view

        self._broken.pop(cluster_id, None)
        cluster = await self.store.run(Store.cluster, cluster_id)
        services = Services(self.store, self.bus, self.lease, self.sites, self.redactor, self.installation_id)
        factory = Factory(cluster_id, middleware_for(cluster.blueprint.middleware), services)
        task = asyncio.create_task(factory.run(), name=f"factory-{cluster.name}")
        self._factories[cluster_id] = (factory, task)
        task.add_done_callback(functools.partial(self._factory_ended, cluster_id))
        return True

    def _factory_ended(self, cluster_id: str, task: asyncio.Task[None]) -> None:
        self._factories.pop(cluster_id, None)
        if not task.cancelled() and task.exception() is not None:
            self._broken[cluster_id] = task.exception()

    async def forget(self, name: str) -> str:
        """Remove a terminated cluster, or one the store cannot read, with its pilots and events."""
        return await self.store.run(Store.forget_cluster, name)

    def manages(self, cluster_id: str) -> bool:
        return cluster_id in self._factories

    def managed(self) -> list[str]:
        """The clusters whose factory runs in this process."""
        return list(self._factories)

    async def release(self, cluster_id: str) -> None:
        """Stop managing one cluster here (it keeps running; another process may take it over)."""
        entry = self._factories.pop(cluster_id, None)
        if entry:
            entry[1].cancel()
            await asyncio.gather(entry[1], return_exceptions=True)

    def hand_off(self, name: str) -> Path:
        """A background `vc3tui cluster manage NAME`, in its own session so it outlives this process
        (a terminate still needs its teardown carried out); returns its log file."""
        log_path = self.dirs.data / f"manage-{name}.log"
        with open(log_path, "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", "vc3tui", "--no-input", "cluster", "manage", name],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return log_path

    async def resize(self, cluster_id: str, count: int | str, *, peaceful: bool = True) -> int:
        """Write the desired size (checked as a worker count); whichever process holds the lease
        carries it out. Returns the count written."""
        requested = checked(WorkerCount, count, "count")
        await self.store.run(Store.update_cluster, cluster_id, requested=requested, peaceful=peaceful)
        self._wake(cluster_id)
        return requested

    async def terminate(self, cluster_id: str, *, peaceful: bool = True) -> None:
        await self.store.run(Store.update_cluster, cluster_id, terminate_requested=True, peaceful=peaceful)
        self._wake(cluster_id)

    async def extend(self, cluster_id: str, duration: int | str) -> float:
        """Expire `duration` from now (seconds, or "24h") instead of at the old time; returns when."""
        expires_at = time.time() + checked(Annotated[Duration, Field(gt=0)], duration, "duration")
        await self.store.run(Store.update_cluster, cluster_id, expires_at=expires_at)
        self._wake(cluster_id)
        return expires_at

    def _wake(self, cluster_id: str) -> None:
        if cluster_id in self._factories:
            self._factories[cluster_id][0].wake.set()

    async def wait_for(self, cluster_id: str, done: Callable[[ClusterRow], bool], timeout: float | None = None) -> ClusterRow:
        """Read the store after each commit here, and at least every 0.2 s (a factory elsewhere),
        until `done(row)`; a factory here that stopped early or broke ends the wait too."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = await self.status(cluster_id)
            if done(row):
                return row
            if row.cluster.state in (ClusterState.TERMINATED, ClusterState.FAILED) and not self.manages(cluster_id):
                return row
            if cluster_id in self._broken:
                error = self._broken[cluster_id]
                raise EngineError(f"managing {row.cluster.name} stopped: {type(error).__name__}: {error}; `vc3tui cluster manage {row.cluster.name}` resumes it")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"cluster {row.cluster.name} did not get there in {timeout:.0f} s: {row.cluster.reason}")
            await self.bus.next_commit(0.2)

    # on the head and the sites

    async def pilot_log(self, cluster_id: str, tag: str, *, lines: int = 200) -> str:
        """The end of a pilot's worker log (its build log before the worker started), read from
        its site over the kept connection."""
        cluster = await self.store.run(Store.cluster, cluster_id)
        pilot = next((p for p in await self.pilot_lines(cluster_id) if p.tag == tag), None)
        if cluster is None or pilot is None:
            raise EngineError(f"no pilot {tag} in this cluster")
        await self.sites.prepare(cluster)
        return self.redactor(await pilot_log(self.sites.site(cluster, pilot.allocation), tag, lines))

    async def run_entry(self, cluster_id: str, argv: list[str], cwd: Path, *, stdout: int, stderr: int, builder_output: bool = False) -> int:
        """Run the blueprint's entry point on the head, in the cluster's environment, with its address.

        On this machine it runs in `cwd`; on a head placed on an allocation, in the cluster's working
        dir there. Its output goes to the descriptors `stdout` and `stderr`; the builder's own lines
        go to `builder.log` in the cluster's dir there, unless `builder_output`."""
        cluster = (await self.status(cluster_id)).cluster
        await self.sites.prepare(cluster)
        site = self.sites.head_site(cluster)
        where = str(cwd) if self.sites.is_local(site) else site.workdir
        log = [] if builder_output else ["--log", f"{site.workdir}/builder.log"]
        command = [*await self.sites.builder_command(cluster, site), *log, "--", *argv]
        return await site.executor.attach(command, env=client_environment(cluster), cwd=where, stdout=stdout, stderr=stderr)

    async def head_shell(self, cluster_id: str, terminal: Terminal) -> int:
        """A login shell where the head runs, in the cluster's working dir and environment (the
        builder's, with the manager's address): on this machine, or on the allocation over the
        connection already held; a head that is a batch job is reached from its login host."""
        cluster = (await self.status(cluster_id)).cluster
        await self.sites.prepare(cluster)
        site = self.sites.head_site(cluster)
        env = client_environment(cluster)
        shell = [*await self.sites.builder_command(cluster, site), "--", "sh", "-c", 'exec "${SHELL:-/bin/sh}" -l']
        head = cluster.head
        if head and head.job_id and head.hostname and head.hostname != site.host:
            shell = ["ssh", "-t", head.hostname, in_dir(site.workdir, with_env(shell, env))]
        return await site.executor.interact(shell, env=env, cwd=site.workdir, terminal=terminal)

    async def head_links(self, cluster_id: str) -> list[tuple[str, str]]:
        """(name, URL) of what a person opens on the head, as this machine reaches it (links.py)."""
        cluster = (await self.status(cluster_id)).cluster
        if not cluster.head or not cluster.head.address:
            return []
        from vc3tui.engine.links import head_links  # HTTP: not needed to show a view

        await self.sites.prepare(cluster)
        return await head_links(self.sites.head_site(cluster), cluster.head, middleware_for(cluster.blueprint.middleware))

    # projects: what involves a running cluster

    async def export_project(self, name: str, path: Path):
        """Write a project's file, with my running clusters of its blueprints as shared clusters."""
        running = [row.cluster for row in await self.cluster_rows(include_terminated=False)]
        return await self.projects.export(name, path, running)

    async def invite(self, name: str, path: Path) -> list[str]:
        """A join ticket for my running cluster (its address and its workers' secrets, 0600); the
        secrets' names."""
        cluster = await self.live_cluster(name)
        if cluster is None or cluster.head is None or cluster.head.external or not cluster.head.address:
            raise EngineError(f"no running cluster {name!r} of yours with a head to invite members to")
        middleware = middleware_for(cluster.blueprint.middleware)
        if not middleware.ticket_needed(cluster.head):
            raise EngineError(f"{name}'s workers need no secrets: members join it with `vc3tui cluster join {name}`")
        await self.sites.prepare(cluster)
        found = await WorkerSecrets(self.sites, self.redactor, middleware).on_head(cluster)
        return self.projects.write_ticket(cluster, found, path)

    async def joinable(self):
        """Other members' shared clusters that are not live here."""
        return await self.projects.joinable(await self._live_names())

    async def join(self, name: str, *, allocations: list[str] | None = None, workers: int | None = None, ticket: Path | None = None) -> Cluster:
        """Add pilots from my allocations to another member's shared cluster: a cluster of my own."""
        joined = await self.projects.joining(name, await self._live_names(), allocations=allocations, workers=workers, ticket=ticket)
        return await self.launch(joined)

    async def _live_names(self) -> set[str]:
        return {row.cluster.name for row in await self.cluster_rows(include_terminated=False)}

    # events

    def events(self) -> AsyncIterator[Event]:
        """Every event committed by this process's factories, as it happens."""
        return self.bus.events()

    def subscribe(self) -> asyncio.Queue[Event]:
        return self.bus.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.bus.unsubscribe(queue)

"""The Engine facade: the one object the TUI and the headless runner call.

It owns the store, the catalog, the question channel, the executors (one per allocation) and one
factory per cluster this process manages. Callers launch, resize and terminate; they learn what
happened from the event stream and from the store, never by blocking on a site.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vc3tui.engine.access import SiteAccess
from vc3tui.engine.batch import batch_system
from vc3tui.engine.blueprint import load_blueprint
from vc3tui.engine.catalog import LOCAL, LOCAL_ALLOCATION, Catalog, load_catalog, remove_user_resource, save_user_resource
from vc3tui.engine.interfaces import Executor
from vc3tui.engine.staging import embedded_builder, stage_builder
from vc3tui.engine.middleware import middleware_for
from vc3tui.engine.models import Allocation, Blueprint, Cluster, ClusterCounts, Environment, Event, HeadPlacement, Pilot, Resource
from vc3tui.engine.paths import Dirs, shipped_dir
from vc3tui.engine.questions import QuestionChannel
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.shell import in_dir, with_env
from vc3tui.engine.site import Site
from vc3tui.engine.software import with_middleware_software
from vc3tui.engine.states import ClusterState
from vc3tui.engine.store import PilotLine, AsyncStore, CycleWrites, Store, default_owner
from vc3tui.engine.numbers import whole_number

if TYPE_CHECKING:
    from vc3tui.engine.factory import Factory
    from vc3tui.engine.projects import Projects

LEASE_TTL = 30.0


@dataclass(frozen=True)
class ClusterRow:
    """What a list of clusters shows for one cluster."""

    cluster: Cluster
    counts: ClusterCounts


class EngineError(Exception):
    """A request the engine cannot carry out; the message says why and what to do."""


class Engine:
    def __init__(self, dirs: Dirs | None = None, *, interactive: bool = True) -> None:
        self.dirs = (dirs or Dirs.from_environment()).ensure()
        self.store = AsyncStore(self.dirs.database)
        self.redactor = Redactor()
        self.questions = QuestionChannel(interactive=interactive, on_secret=self.redactor.add)
        self.owner = default_owner()
        self._catalog: Catalog | None = None
        self._factories: dict[str, tuple[Factory, asyncio.Task[None]]] = {}
        self._subscribers: list[asyncio.Queue[Event]] = []
        self.access = SiteAccess(self.dirs, self.store, lambda: self.catalog, self.questions)
        self._allocations: dict[str, Allocation] = {}
        self._builders: dict[tuple[str, str], asyncio.Future[str]] = {}
        self._committed = asyncio.Condition()

    @functools.cached_property
    def projects(self) -> Projects:
        from vc3tui.engine.projects import Projects  # not needed to show the first view

        return Projects(self)

    @property
    def installation_id(self) -> str:
        return self.store.store.installation_id

    @property
    def warnings(self) -> list[str]:
        return list(self.store.store.warnings)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog(self.dirs.user_resources, scratch=self.dirs.cache)
        return self._catalog

    def save_resource(self, resource: Resource) -> None:
        """Add or replace a resource in the user's resources.toml; the catalog is read again."""
        save_user_resource(self.dirs.user_resources, resource)
        self._catalog = None

    def remove_resource(self, name: str) -> bool:
        """Remove a user resource (shipped ones cannot be); False when it was not the user's."""
        removed = remove_user_resource(self.dirs.user_resources, name)
        self._catalog = None
        return removed

    async def close(self) -> None:
        """Stop managing (clusters keep running, their pilots end by their own timeouts)."""
        for _, task in list(self._factories.values()):
            task.cancel()
        await asyncio.gather(*(task for _, task in self._factories.values()), return_exceptions=True)
        self._factories.clear()
        for staging in self._builders.values():
            staging.cancel()
        await asyncio.gather(*self._builders.values(), return_exceptions=True)
        await self.access.close()
        await self.store.close()

    # allocations and blueprints

    async def allocations(self) -> list[Allocation]:
        stored = await self.store.run(Store.allocations)
        return [LOCAL_ALLOCATION, *(a for a in stored if a.name != LOCAL)]

    async def allocation(self, name: str) -> Allocation:
        if name == LOCAL:
            return LOCAL_ALLOCATION
        allocation = await self.store.run(Store.allocation, name)
        if allocation is None:
            raise EngineError(f"no allocation named {name!r}; `vc3tui allocation list` shows them")
        return allocation

    async def delete_allocation(self, name: str) -> None:
        if name == LOCAL:
            raise EngineError("the local allocation is built in and cannot be deleted")
        if not await self.store.run(Store.delete_allocation, name):
            raise EngineError(f"no allocation named {name!r}")

    async def load_blueprint(self, path: Path) -> Blueprint:
        """Read and check a blueprint against this installation's allocations and environments."""
        allocations = {a.name for a in await self.allocations()}
        environments = {e.name for e in await self.environments() if e.name}
        return load_blueprint(path, allocations=allocations, environments=environments)

    # clusters

    async def cluster_rows(self, *, include_terminated: bool = True) -> list[ClusterRow]:
        def rows(store: Store) -> list[ClusterRow]:
            return [
                ClusterRow(cluster, store.counts(cluster.id))
                for cluster in store.clusters(include_terminated=include_terminated)
            ]

        return await self.store.run(rows)

    async def status(self, cluster_id: str) -> ClusterRow:
        cluster = await self.store.run(Store.cluster, cluster_id)
        if cluster is None:
            raise EngineError(f"no cluster with id {cluster_id}")
        return ClusterRow(cluster, await self.store.run(Store.counts, cluster_id))

    async def pilots(self, cluster_id: str) -> list[Pilot]:
        return await self.store.run(Store.pilots, cluster_id)

    async def live_cluster(self, name: str) -> Cluster | None:
        return await self.store.run(Store.live_cluster_named, name)

    async def launch(self, blueprint: Blueprint) -> Cluster:
        """Record a new cluster and start managing it; a live cluster of that name is an error."""
        if await self.live_cluster(blueprint.name):
            raise EngineError(f"cluster {blueprint.name!r} is already running; resize or terminate it first")
        blueprint = with_middleware_software(await self._resolve_environment(blueprint))
        cluster = Cluster(
            id=secrets.token_hex(4),
            name=blueprint.name,
            blueprint=blueprint,
            requested=blueprint.workers.count,
            peaceful=blueprint.peaceful,
            expires_at=time.time() + blueprint.expiration if blueprint.expiration else None,
        )
        await self.store.run(Store.put_cluster, cluster)
        await self.commit(CycleWrites(events=[Event(cluster_id=cluster.id, kind="state", message=f"new: launching {cluster.name} with {cluster.requested} workers")]))
        await self.manage(cluster.id)
        return cluster

    async def manage(self, cluster_id: str) -> bool:
        """Run this cluster's factory here, unless a live process already does (the lease says)."""
        if cluster_id in self._factories:
            return True
        if not await self.renew_lease(cluster_id):
            return False
        from vc3tui.engine.factory import Factory  # the loop, its head and gate: not needed to show a view

        cluster = await self.store.run(Store.cluster, cluster_id)
        factory = Factory(self, cluster_id, middleware_for(cluster.blueprint.middleware))
        task = asyncio.create_task(factory.run(), name=f"factory-{cluster.name}")
        self._factories[cluster_id] = (factory, task)
        task.add_done_callback(lambda _: self._factories.pop(cluster_id, None))
        return True

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

    async def builder_packages(self) -> list[str]:
        """The package names the shipped builder's recipes offer (`vc3-builder --list`)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(shipped_dir("builder") / "vc3_builder.py"), "--list",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        output, _ = await process.communicate()
        return [line.split()[0] for line in output.decode().splitlines() if line.strip()]

    async def environments(self) -> list[Environment]:
        return await self.store.run(Store.environments)

    async def pilot_lines(self, cluster_id: str) -> list[PilotLine]:
        """The cluster's pilots as a table shows them (plain tuples, cheap at 10,000)."""
        return await self.store.run(Store.pilot_lines, cluster_id)

    async def cluster_events(self, cluster_id: str, *, limit: int = 200) -> list[Event]:
        """The cluster's latest events, oldest first."""
        return await self.store.run(Store.events, cluster_id, limit=limit)

    async def pilot_log(self, cluster_id: str, tag: str, *, lines: int = 200) -> str:
        """The end of a pilot's worker log (its build log before the worker started), read from
        its site over the kept connection."""
        cluster = await self.store.run(Store.cluster, cluster_id)
        pilot = next((p for p in await self.pilot_lines(cluster_id) if p.tag == tag), None)
        if cluster is None or pilot is None:
            raise EngineError(f"no pilot {tag} in this cluster")
        await self.prepare_sites(cluster_id)
        site = self.site(cluster, pilot.allocation)
        pilot_dir = f"{site.workdir}/pilots/{tag}"
        script = (
            f"cd {shlex.quote(pilot_dir)} 2>/dev/null || {{ echo 'no pilot directory yet (the job has not started)'; exit 0; }}\n"
            f"for f in worker.log build.log; do [ -s \"$f\" ] && {{ echo \"== $f\"; tail -n {int(lines)} \"$f\"; exit 0; }}; done\n"
            "echo 'no output yet'\n"
        )
        result = await site.executor.run_script(script, timeout=60)
        return self.redactor(result.stdout if result.ok else f"could not read the log: {result.summary()}")

    async def resize(self, cluster_id: str, count: int, *, peaceful: bool = True) -> None:
        """Write the desired size; whichever process holds the lease carries it out."""
        if count < 0:
            raise EngineError("a cluster cannot have fewer than 0 workers")
        await self.store.run(Store.update_cluster, cluster_id, requested=count, peaceful=peaceful)
        self._wake(cluster_id)

    async def terminate(self, cluster_id: str, *, peaceful: bool = True) -> None:
        await self.store.run(Store.update_cluster, cluster_id, terminate_requested=True, peaceful=peaceful)
        self._wake(cluster_id)

    async def extend(self, cluster_id: str, seconds: int) -> None:
        """Expire `seconds` from now instead of at the old time."""
        await self.store.run(Store.update_cluster, cluster_id, expires_at=time.time() + seconds)
        self._wake(cluster_id)

    async def wait_for(
        self, cluster_id: str, done: Callable[[ClusterRow], bool], timeout: float | None = None
    ) -> ClusterRow:
        """Read the store again after each commit of this process (a factory here), and at least
        every 0.2 s (one in another process) until `done(row)`; a factory that stops early ends the
        wait too."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = await self.status(cluster_id)
            if done(row):
                return row
            if row.cluster.state in (ClusterState.TERMINATED, ClusterState.FAILED) and not self.manages(cluster_id):
                return row
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"cluster {row.cluster.name} did not get there in {timeout:.0f} s: {row.cluster.reason}")
            async with self._committed:
                try:
                    await asyncio.wait_for(self._committed.wait(), 0.2)
                except asyncio.TimeoutError:
                    pass

    async def run_entry(
        self, cluster_id: str, argv: list[str], cwd: Path, *, stdout: int | None = None, builder_output: bool = False
    ) -> int:
        """Run the blueprint's entry point on the head, in the cluster's environment, with its address.

        On this machine it runs in `cwd`; on a head placed on an allocation, in the cluster's working
        dir there. Its output goes to our own stdout unless `stdout` (a file descriptor) says otherwise;
        the builder's own lines go to `builder.log` in the cluster's dir there, unless `builder_output`."""
        cluster = (await self.status(cluster_id)).cluster
        site = self.head_site(cluster)
        env = self.client_environment(cluster)
        where = str(cwd) if site.executor is self._local_executor() else site.workdir
        log = [] if builder_output else ["--log", f"{site.workdir}/builder.log"]
        command = [*await self.builder_command(cluster, site), *log, "--", *argv]
        return await site.executor.attach(command, env=env, cwd=where, stdout=sys.stdout.fileno() if stdout is None else stdout)

    async def head_shell(self, cluster_id: str) -> int:
        """A login shell where the head runs, in the cluster's working dir and environment (the
        builder's, with the manager's address): on this machine, or on the allocation over the
        connection already held; a head that is a batch job is reached from its login host."""
        cluster = (await self.status(cluster_id)).cluster
        site = self.head_site(cluster)
        env = self.client_environment(cluster)
        shell = [*await self.builder_command(cluster, site), "--", "sh", "-c", 'exec "${SHELL:-/bin/sh}" -l']
        head = cluster.head
        if head and head.job_id and head.hostname and head.hostname != site.host:
            shell = ["ssh", "-t", head.hostname, in_dir(site.workdir, with_env(shell, env))]
        return await site.executor.interact(shell, env=env, cwd=site.workdir)

    async def jupyter_url(self, cluster_id: str) -> str | None:
        """The JupyterLab URL with its token, for the user's eyes only (never stored in events); for a
        head on a site, through a port this process forwards while it runs."""
        cluster = (await self.status(cluster_id)).cluster
        if not cluster.head or "jupyter" not in cluster.head.ports:
            return None
        from vc3tui.engine.middleware.jupyter import TOKEN_FILE

        site = self.head_site(cluster)
        token = (await site.executor.get(f"{site.workdir}/secrets/{TOKEN_FILE}")).decode().strip()
        host, port = await site.executor.forward("127.0.0.1", cluster.head.ports["jupyter"])
        return f"http://{host}:{port}/lab?token={token}"

    # events

    async def events(self) -> AsyncIterator[Event]:
        """Every event committed by this process's factories, as it happens."""
        queue = self.subscribe()
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(queue)

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every event from now on; whoever holds it can drain it at the end."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._subscribers.remove(queue)

    async def commit(self, writes: CycleWrites) -> None:
        """Write a cycle's changes (every text in them redacted) and tell the subscribers."""
        redact = self.redactor
        for event in writes.events:
            event.message = redact(event.message)
        for pilot in writes.pilots:
            pilot.reason = redact(pilot.reason)
        for cluster in writes.clusters:
            cluster.reason = redact(cluster.reason)
            for condition in cluster.conditions:
                condition.reason = redact(condition.reason)
        await self.store.run(Store.commit_cycle, writes)
        for event in writes.events:
            for queue in self._subscribers:
                queue.put_nowait(event)
        async with self._committed:
            self._committed.notify_all()

    # what factories need

    async def renew_lease(self, cluster_id: str) -> bool:
        holder = await self.store.run(Store.lease_holder, cluster_id)
        replace = holder if holder and _holder_is_dead(holder) else None
        return await self.store.run(Store.acquire_lease, cluster_id, self.owner, LEASE_TTL, replace=replace)

    async def release_lease(self, cluster_id: str) -> None:
        await self.store.run(Store.release_lease, cluster_id, self.owner)

    async def prepare_sites(self, cluster_id: str) -> None:
        """Load the cluster's allocations once, so each cycle finds its sites without a store call."""
        cluster = await self.store.run(Store.cluster, cluster_id)
        names = [use.name for use in cluster.blueprint.allocations]
        if cluster.blueprint.head.placement is HeadPlacement.ALLOCATION:
            names.append(cluster.blueprint.head.allocation)
        for name in names:
            self._allocations[name] = await self.allocation(name)

    def site(self, cluster: Cluster, allocation: str) -> Site:
        """Where an allocation's pilots run: its kept executor, batch system and working dir."""
        record = LOCAL_ALLOCATION if allocation == LOCAL else self._allocations.get(allocation)
        if record is None:
            raise EngineError(f"allocation {allocation} is not loaded; it was deleted while the cluster ran")
        resource = self.access.resource_of(record)
        executor = self.access.executor(record)
        if executor is self._local_executor():
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

    def head_site(self, cluster: Cluster) -> Site:
        """Where the head runs: this machine, or the allocation the blueprint places it on."""
        head = cluster.blueprint.head
        return self.site(cluster, head.allocation if head.placement is HeadPlacement.ALLOCATION else LOCAL)

    def _local_executor(self) -> Executor:
        return self.access.local

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
        elif site.executor is self._local_executor():
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

    def cluster_environment(self, cluster: Cluster) -> dict[str, str]:
        return {"VC3_CLUSTER": cluster.name, "VC3_CLUSTER_ID": cluster.id}

    def client_environment(self, cluster: Cluster) -> dict[str, str]:
        """What a program on the head needs to use the cluster: its name and the manager's address."""
        return {**self.cluster_environment(cluster), **middleware_for(cluster.blueprint.middleware).client_environment(cluster)}

    def _wake(self, cluster_id: str) -> None:
        if cluster_id in self._factories:
            self._factories[cluster_id][0].wake.set()

    async def _resolve_environment(self, blueprint: Blueprint) -> Blueprint:
        """A named environment is copied into the cluster, so later edits don't change a running one."""
        env = blueprint.environment
        if env.name and not (env.require or env.pip or env.os or env.mounts or env.variables):
            named = {e.name: e for e in await self.environments()}
            if env.name not in named:
                raise EngineError(f"unknown environment {env.name!r}")
            return blueprint.model_copy(update={"environment": named[env.name]})
        return blueprint


def _holder_is_dead(holder: str) -> bool:
    """A lease held by a process on this host that no longer exists can be taken at once."""
    host, _, pid = holder.rpartition(":")
    if host != os.uname().nodename or whole_number(pid) is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

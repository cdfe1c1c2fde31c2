"""The factory: per cluster, a loop that makes the live pilots match what the cluster wants.

Each cycle reads the store (any process may have written a new size), asks each allocation's batch
system for all of the cluster's pilots in one round trip, asks the middleware which workers joined,
then submits or removes pilots. Intent is written before action: new pilots are committed as rows
before their jobs are submitted, and an intent found again after a crash is looked for by tag
before it is ever submitted a second time.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vc3tui.engine.batch.wrapper import PILOT_TAG
from vc3tui.engine.crashpoints import crash_point
from vc3tui.engine.gate import ManagerGate
from vc3tui.engine.head import HeadNode, HeadState
from vc3tui.engine.interfaces import BatchSystem, CommandFailed, Executor, JobStatus, Middleware, PilotShape, Submission
from vc3tui.engine.middleware import http
from vc3tui.engine.middleware.jupyter import TOKEN_FILE, jupyter_port
from vc3tui.engine.models import Cluster, Condition, Event, Head, HeadPlacement, Pilot, pilot_lifetime
from vc3tui.engine.software import SoftwareMissing, check_software
from vc3tui.engine.site import Site
from vc3tui.engine.spread import spread
from vc3tui.engine.states import ClusterCondition, ClusterState, PilotStage, PilotState
from vc3tui.engine.store import CycleWrites, Store

if TYPE_CHECKING:
    from vc3tui.engine.engine import Engine

LIVE = (PilotState.INTENT, PilotState.QUEUED, PilotState.RUNNING, PilotState.DRAINING, PilotState.HELD, PilotState.UNKNOWN)
PEACEFUL_GRACE = 120.0
JOIN_GRACE = 300.0
HEAD_FAST_POLL = 10.0
BUILDER_ERROR = "vc3-builder: error:"
"""How the builder starts the line that says why it failed."""
LOG_TAIL_LINES = 5
BUILD_REPORT_EVERY = 1.0


class Factory:
    def __init__(self, engine: Engine, cluster_id: str, middleware: Middleware) -> None:
        self.engine = engine
        self.cluster_id = cluster_id
        self.middleware = middleware
        self.wake = asyncio.Event()
        self.writes = CycleWrites()
        self._drain_tasks: set[asyncio.Task[None]] = set()
        self._teardown_deadline: float | None = None
        self._backoff: dict[str, tuple[float, float, str]] = {}  # allocation -> (until, seconds, site's error)
        self._cancelled: set[str] = set()
        self._last_error = ""
        self._idle_since: float | None = None
        self._autoscale_reason = ""
        self._secrets_copies: dict[str, asyncio.Task[None]] = {}  # allocation -> its copy
        self._building = ("", 0.0)  # what the head's environment builds, since when
        self._build_read = 0.0
        self.head = HeadNode(engine, middleware)
        self.gate = ManagerGate(engine, middleware)

    # the loop

    async def run(self) -> None:
        store = self.engine.store
        warming: asyncio.Task[None] | None = None
        try:
            await self.engine.prepare_sites(self.cluster_id)
            warming = asyncio.create_task(self._warm_sites())
            while True:
                cluster = await store.run(Store.cluster, self.cluster_id)
                if cluster is None:
                    return
                if not await self.engine.renew_lease(self.cluster_id):
                    await self._publish(cluster, "lease", "another process now manages this cluster; stopped here")
                    return
                try:
                    await self.cycle(cluster)
                    self._last_error = ""
                except Exception as exc:  # a site's failure must not end the loop; say it (once) and retry
                    error = f"factory cycle failed: {type(exc).__name__}: {exc}"
                    if error != self._last_error:
                        self.event(cluster, "error", error)
                    self._last_error = error
                await self._commit()
                if cluster.state is ClusterState.TERMINATED:
                    return
                await self._sleep(self.interval(cluster))
        finally:
            for task in [*self._drain_tasks, *self._secrets_copies.values(), *([warming] if warming else [])]:
                task.cancel()
            await self.gate.close()
            await self.engine.release_lease(self.cluster_id)

    async def _warm_sites(self) -> None:
        """Log into every pilot site and stage its builder while the head starts, so the first
        submission finds both done. Only a head start: a failure here shows up again, and is
        reported, in the cycle that needs the site."""
        cluster = await self.engine.store.run(Store.cluster, self.cluster_id)
        if cluster is None or cluster.state in (ClusterState.TERMINATING, ClusterState.TERMINATED):
            return
        sites = [site for site in self.sites(cluster) if site.executor is not self.engine.access.local]
        # a resumed cluster's head made its secrets in another process: read them, so this one
        # redacts them too
        learned = [self._head_secrets(cluster)] if cluster.head and not cluster.head.external else []
        # and the TLS context every HTTP client shares (its CA bundle takes a few hundredths to load)
        primed = [asyncio.to_thread(http.tls_context)] if self.middleware.has_manager else []
        await asyncio.gather(*(self.engine.builder_command(cluster, site) for site in sites), *learned, *primed, return_exceptions=True)

    async def _head_secrets(self, cluster: Cluster) -> dict[str, bytes]:
        """The secrets workers need, as the head keeps them (redacted from here on); those this
        cluster's manager did not make are absent (e.g. Dask on loopback has no TLS)."""
        head = self.engine.head_site(cluster)
        found = {}
        for name in self.middleware.worker_secrets:
            try:
                found[name] = await head.executor.get(f"{head.workdir}/secrets/{name}")
            except OSError:
                continue
            self.engine.redactor.add(found[name])
        return found

    async def cycle(self, cluster: Cluster) -> None:
        if cluster.state not in (ClusterState.TERMINATING, ClusterState.TERMINATED):
            if cluster.terminate_requested:
                self.move(cluster, ClusterState.TERMINATING, f"as requested ({'peaceful' if cluster.peaceful else 'at once'})")
            elif cluster.expires_at and time.time() > cluster.expires_at:
                self.move(cluster, ClusterState.TERMINATING, "the cluster reached its expiration")
        if cluster.state is ClusterState.NEW:
            await self._start_head(cluster)
        elif cluster.state is ClusterState.STARTING_HEAD:
            await self._await_head(cluster)
        elif cluster.state is ClusterState.RUNNING:
            if await self._head_state(cluster):
                await self._reconcile(cluster)
        elif cluster.state is ClusterState.FAILED:
            await self._refresh(cluster, await self._live_pilots())
        elif cluster.state is ClusterState.TERMINATING:
            await self._teardown(cluster)

    def interval(self, cluster: Cluster) -> float:
        if cluster.state is ClusterState.STARTING_HEAD and cluster.head and time.time() - (cluster.head.started_at or 0) < HEAD_FAST_POLL:
            return 0.02  # most managers are up within a second: every fiftieth saved is latency
        if cluster.state in (ClusterState.NEW, ClusterState.STARTING_HEAD, ClusterState.TERMINATING):
            return 0.5
        poll = min(site.poll_interval for site in self.sites(cluster))
        busy = any(c.kind in (ClusterCondition.SCALING_UP, ClusterCondition.DRAINING) for c in cluster.conditions)
        return min(poll, 1.0) if busy else poll

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self.wake.clear()

    # the head node

    async def _start_head(self, cluster: Cluster) -> None:
        if not await self._software_ready(cluster):
            return
        if not self.middleware.has_manager:
            self.move(cluster, ClusterState.STARTING_HEAD, "no manager to start")
            self.move(cluster, ClusterState.RUNNING, "no manager: every pilot runs the blueprint's command")
            self.wake.set()
            return
        spec = cluster.blueprint.head
        if spec.placement is HeadPlacement.EXTERNAL:
            located = self.middleware.external(spec.address)
            if spec.secrets:
                await self._take_secrets(cluster, Path(spec.secrets).expanduser())
            cluster.head = Head(host="", external=True, secrets=bool(spec.secrets), address=located.address, ports=dict(located.ports), started_at=time.time())
            self.move(cluster, ClusterState.STARTING_HEAD, f"using the {cluster.blueprint.middleware} manager at {located.address}")
            self.move(cluster, ClusterState.RUNNING, f"external {cluster.blueprint.middleware} manager at {located.address}: adding workers to it, not managing it")
            self.wake.set()
            return
        cluster.head = await self.head.start(cluster)
        for use in cluster.blueprint.allocations:  # while the manager starts
            self._secrets_copy(cluster, use.name)
        where = f"job {cluster.head.job_id}" if cluster.head.job_id else f"pid {cluster.head.pid}"
        on = f" on {spec.allocation} ({cluster.head.host})" if cluster.head.allocation else ""
        self.move(cluster, ClusterState.STARTING_HEAD, f"building the environment and starting the {cluster.blueprint.middleware} manager{on} ({where})")

    async def _software_ready(self, cluster: Cluster) -> bool:
        """Ask the builder on every site (the head's too, when vc3tui starts it) whether it can
        provide the environment, before anything starts; fail the cluster when one cannot. A warm
        site answers from the activation it kept, without starting Python."""
        sites = self.sites(cluster)
        if self._asks_manager(cluster) and cluster.blueprint.head.placement is not HeadPlacement.EXTERNAL:
            sites.append(self.engine.head_site(cluster))
        unique = list({site.workdir: site for site in sites}.values())
        builders = [await self.engine.builder_command(cluster, site) for site in unique]
        plans = await asyncio.gather(
            *(check_software(site.executor, builder) for site, builder in zip(unique, builders)), return_exceptions=True
        )
        for site, plan in zip(unique, plans):
            where = "this machine" if site.executor is self.engine.access.local else f"{site.allocation} ({site.host})"
            if isinstance(plan, SoftwareMissing):
                advice = "install it there, or name where it comes from in the environment"
                self.move(cluster, ClusterState.FAILED, f"software missing on {where}: {plan}; {advice}; nothing was started")
                return False
            if isinstance(plan, BaseException):
                raise plan
            self.event(cluster, "builder", f"software on {where}: {', '.join(map(str, plan)) or 'nothing to add'}")
        return True

    async def _await_head(self, cluster: Cluster) -> None:
        site = self.engine.head_site(cluster)
        state = await self._head_state(cluster)
        if state is None or state.queued:
            return
        if state.stage is PilotStage.BUILDING:
            await self._report_build(cluster, site)
            return
        head = cluster.head
        if state.host and head.hostname != state.host:
            head.hostname = state.host
            self.writes.clusters.append(cluster)
        if not head.hostname:
            return
        located = await self.middleware.locate(site.executor, site.workdir, self.advertised_host(cluster))
        first = False
        if located:
            first = not head.address
            head.address, head.ports = located.address, {**head.ports, **located.ports}
        if await self._head_ready(cluster, site):
            self.move(cluster, ClusterState.RUNNING, f"{cluster.blueprint.middleware} manager ready at {head.address}")
            self.wake.set()
            if first:
                await self._commit()  # said now, an entry point starts while the first pilots go out
        if first:
            await self._submit_early(cluster)

    async def _report_build(self, cluster: Cluster, site: Site) -> None:
        """While the head's environment builds (a cold one takes a while): what is being built,
        said once as an event, and for how long, in the cluster's reason (the live status line)."""
        now = time.monotonic()
        if now - self._build_read < BUILD_REPORT_EVERY:
            return
        self._build_read = now
        log = f"{self.head.dir(cluster)}/build.log"
        result = await site.executor.run(["sed", "-n", r"s/^Build: *\(.*\) in \/.*/\1/p", log], timeout=30)
        building = (result.stdout.strip().splitlines() or [""])[-1]
        if not building:
            return
        if building != self._building[0]:
            self._building = (building, now)
            self.event(cluster, "head", f"building the environment: {building}")
        cluster.reason = f"building the environment: {building}, {now - self._building[1]:.0f} s"
        self.writes.clusters.append(cluster)

    async def _head_ready(self, cluster: Cluster, site: Site) -> bool:
        """Whether the manager (and JupyterLab, when asked for) answers."""
        head = cluster.head
        if not head.address:
            return False
        if cluster.blueprint.head.jupyter and "jupyter" not in head.ports:
            port = await jupyter_port(site.executor, f"{site.workdir}/secrets")
            if port is None:
                return False
            head.ports["jupyter"] = port
            on = f" on {head.hostname} (reach it with `ssh -L`, or while vc3tui runs, through its forward)" if head.allocation else ""
            self.event(cluster, "jupyter", f"JupyterLab at http://127.0.0.1:{port}/lab{on} (token in {site.workdir}/secrets/{TOKEN_FILE})")
        return await self.middleware.ready(site.executor, head)

    async def _submit_early(self, cluster: Cluster) -> None:
        """Submit the first pilots as soon as the manager's address is known, while it finishes
        starting: their time in the batch queue overlaps its start, and workers retry until it
        answers (or, when the manager is the user's own program, wait for it: gate.py). Intents
        are rows before jobs exist, as always; a restarted engine adopts them."""
        if await self._live_pilots():
            return
        target = cluster.blueprint.autoscale.min if cluster.blueprint.autoscale else cluster.requested
        if target:
            await self._submit(cluster, await self._new_intents(cluster, [], target))

    def advertised_host(self, cluster: Cluster) -> str:
        """The host workers are given: the listen address, or the head node's own name when it
        listens on every interface."""
        listen = self.engine.listen_host(cluster)
        return cluster.head.hostname if listen == "0.0.0.0" and cluster.head else listen

    async def _head_state(self, cluster: Cluster) -> HeadState | None:
        """The head's state while it lives; None after failing the cluster with the head's own last
        words as the reason."""
        state = await self.head.state(cluster)
        if state.alive:
            return state
        site = self.engine.head_site(cluster)
        tail = await self._log_tail(site, self.head.dir(cluster), state.stage)
        status = f"status {state.exit_code}" if state.exit_code is not None else state.reason or "no exit status"
        self.move(cluster, ClusterState.FAILED, f"head exited ({status}) while {state.stage or 'starting'}: {tail}")
        return None

    # pilots

    async def _live_pilots(self) -> list[Pilot]:
        return await self.engine.store.run(Store.pilots, self.cluster_id, states=LIVE)

    async def _refresh(self, cluster: Cluster, pilots: Sequence[Pilot]) -> list[Pilot]:
        """Update pilots from one status round trip per allocation; return the intents never submitted."""
        unsubmitted: list[Pilot] = []
        by_site: dict[str, list[Pilot]] = {}
        for pilot in pilots:
            by_site.setdefault(pilot.allocation, []).append(pilot)
        for allocation, group in by_site.items():
            site = self.engine.site(cluster, allocation)
            try:
                statuses = await site.batch.status(site.executor, group, site.workdir)
            except Exception as exc:
                for pilot in group:
                    if pilot.state is not PilotState.INTENT:
                        self._apply(cluster, pilot, JobStatus(PilotState.UNKNOWN, reason=f"status query failed: {exc}"))
                continue
            for pilot in group:
                status = statuses.get(pilot.tag)
                if pilot.state is PilotState.INTENT and (status is None or status.state is PilotState.INTENT):
                    unsubmitted.append(pilot)
                elif status is None and pilot.tag in self._cancelled:
                    self._apply(cluster, pilot, JobStatus(PilotState.DONE, reason=pilot.reason or "cancelled"))
                elif status is None:
                    self._apply(cluster, pilot, JobStatus(PilotState.LOST, reason="its job is gone and it left no exit marker"))
                else:
                    if status.state in (PilotState.FAILED, PilotState.LOST):
                        tail = await self._log_tail(site, f"{site.workdir}/pilots/{pilot.tag}", status.stage)
                        status = replace(status, reason=f"{status.reason}: {tail}")
                    self._apply(cluster, pilot, status)
        return unsubmitted

    def _apply(self, cluster: Cluster, pilot: Pilot, status: JobStatus) -> None:
        if (
            status.state is pilot.state
            and (status.stage in (None, pilot.stage) or pilot.stage is PilotStage.WORKER_JOINED)
            and status.job_id in (None, pilot.job_id)
            and status.host in (None, pilot.host)
            and (not status.reason or status.reason == pilot.reason)
        ):
            return  # the common case at 10,000 pilots: nothing changed since the last cycle
        state = status.state
        if pilot.state is PilotState.DRAINING and state in (PilotState.RUNNING, PilotState.QUEUED):
            state = PilotState.DRAINING
        old = (pilot.state, pilot.stage, pilot.host, pilot.exit_code, pilot.job_id)
        if status.job_id and pilot.job_id != status.job_id:
            pilot.job_id = status.job_id
            if pilot.state is PilotState.INTENT:
                self.event(cluster, "adopt", f"pilot {pilot.index} found on {pilot.allocation} as job {status.job_id}; adopted, not submitted again")
        keep_joined = pilot.stage is PilotStage.WORKER_JOINED and status.stage is PilotStage.WORKER_STARTED
        pilot.move(state, status.reason)
        if status.stage and not keep_joined:
            pilot.stage = status.stage
        pilot.host = status.host or pilot.host
        pilot.exit_code = status.exit_code if status.exit_code is not None else pilot.exit_code
        if state is PilotState.RUNNING and pilot.started_at is None:
            pilot.started_at = status.started_at or time.time()
        if state.ended and pilot.ended_at is None:
            pilot.ended_at = time.time()
            if state is not PilotState.DONE:
                self.event(cluster, "pilot", f"pilot {pilot.index} on {pilot.allocation} {state}: {pilot.reason}")
        if (pilot.state, pilot.stage, pilot.host, pilot.exit_code, pilot.job_id) != old:
            self.writes.pilots.append(pilot)

    async def _reconcile(self, cluster: Cluster) -> None:
        pilots = await self._live_pilots()
        unsubmitted = await self._refresh(cluster, pilots)
        await self._mark_joined(cluster, pilots)
        live = [p for p in pilots if p.state in LIVE and p.state is not PilotState.DRAINING]
        target = await self._autoscale(cluster, len(live)) if cluster.blueprint.autoscale else cluster.requested
        if len(live) < target:
            unsubmitted += await self._new_intents(cluster, live, target)
            crash_point("after-intent")
        elif len(live) > target:
            unsubmitted = await self._shrink(cluster, live, len(live) - target, unsubmitted)
        await self._submit(cluster, unsubmitted)
        self._conditions(cluster, pilots, target)

    async def _autoscale(self, cluster: Cluster, live: int) -> int:
        """The target from the manager's demand: clamped to min..max, up by `step` at most a cycle,
        and down only once demand has stayed below the live count for the idle time."""
        scale = cluster.blueprint.autoscale
        try:
            demand = await self.middleware.demand(self.engine.head_site(cluster).executor, cluster)
        except Exception as exc:
            self.event(cluster, "middleware", f"could not ask the manager for its demand: {exc}")
            demand = live
        wanted = max(scale.min, min(scale.max, demand))
        now = time.monotonic()
        if wanted >= live:
            self._idle_since = None
            target = min(wanted, live + scale.step)
        else:
            self._idle_since = self._idle_since or now
            target = wanted if now - self._idle_since >= scale.idle else live
        reason = f"demand {demand} workers, target {target} (min {scale.min}, max {scale.max})"
        if target < live:
            reason += f"; idle for {int(now - self._idle_since)} s"
        self._autoscale_reason = reason
        if cluster.target != target:
            cluster.target = target
            self.writes.clusters.append(cluster)
        return target

    async def _mark_joined(self, cluster: Cluster, pilots: Sequence[Pilot]) -> None:
        if self.middleware.joined_line:
            joined = {p.tag for p in pilots if p.stage is PilotStage.WORKER_JOINED}
        elif not self._asks_manager(cluster):
            joined = {p.tag for p in pilots if p.stage in (PilotStage.WORKER_STARTED, PilotStage.WORKER_JOINED)}
        else:
            try:
                workers = await self.middleware.workers(self.engine.head_site(cluster).executor, cluster.head)
            except Exception as exc:
                self.event(cluster, "middleware", f"could not ask the {cluster.blueprint.middleware} manager for workers: {exc}")
                return
            joined = {w.tag for w in workers if w.tag}
        now = time.time()
        working = (PilotState.RUNNING, PilotState.DRAINING)
        for pilot in pilots:
            if pilot.state not in working:
                continue
            stage = pilot.stage
            if pilot.tag in joined:
                stage = PilotStage.WORKER_JOINED
            elif stage is PilotStage.WORKER_JOINED:
                stage = PilotStage.WORKER_STARTED
            if stage is not pilot.stage:
                pilot.stage = stage
                self.writes.pilots.append(pilot)
            if stage is PilotStage.WORKER_STARTED and pilot.started_at and now - pilot.started_at > JOIN_GRACE:
                if not pilot.reason.startswith("worker has not joined"):
                    pilot.reason = f"worker has not joined the manager {int(now - pilot.started_at)} s after starting; see its worker.log"
                    self.writes.pilots.append(pilot)
                    self.event(cluster, "pilot", f"pilot {pilot.index} on {pilot.allocation}: {pilot.reason}")

    async def _new_intents(self, cluster: Cluster, live: Sequence[Pilot], target: int) -> list[Pilot]:
        per_allocation = Counter(p.allocation for p in live)
        backed_off = {name for name, (until, _, _) in self._backoff.items() if until > time.time()}
        plan = spread(target, cluster.blueprint.allocations, per_allocation, avoid=backed_off)
        intents: list[Pilot] = []
        for allocation, count in plan.items():
            intents += await self.engine.store.run(Store.add_pilot_intents, cluster.id, allocation, count)
        if intents:
            self.event(cluster, "scale", f"requesting {len(intents)} more worker{'s' * (len(intents) != 1)} (target {target})")
        return intents

    async def _shrink(self, cluster: Cluster, live: list[Pilot], excess: int, unsubmitted: list[Pilot]) -> list[Pilot]:
        """Remove `excess` pilots: never-submitted intents, then queued, then the youngest running."""
        order = sorted(
            live,
            key=lambda p: (p not in unsubmitted, p.state is not PilotState.QUEUED, -(p.started_at or p.created_at)),
        )
        victims = order[:excess]
        for pilot in victims:
            if pilot in unsubmitted:
                self._apply(cluster, pilot, JobStatus(PilotState.DONE, reason="no longer needed before submission"))
        queued = [p for p in victims if p.state in (PilotState.QUEUED, PilotState.HELD)]
        running = [p for p in victims if p.state in (PilotState.RUNNING, PilotState.UNKNOWN)]
        await self._cancel(cluster, queued, "cancelled while queued: shrinking")
        if cluster.peaceful:
            self._drain(cluster, running)
        else:
            await self._cancel(cluster, running, "cancelled: shrinking without draining")
        self.event(cluster, "scale", f"removing {len(victims)} pilot{'s' * (len(victims) != 1)} (target {cluster.requested}, {'peaceful' if cluster.peaceful else 'at once'})")
        return [p for p in unsubmitted if p not in victims]

    def _drain(self, cluster: Cluster, pilots: Sequence[Pilot]) -> None:
        if not pilots:
            return
        if not self._asks_manager(cluster):
            task = asyncio.create_task(self._cancel(cluster, pilots, "stopped with SIGTERM: no manager to drain through"))
            self._drain_tasks.add(task)
            task.add_done_callback(self._drain_tasks.discard)
            return
        for pilot in pilots:
            self._apply(cluster, pilot, JobStatus(PilotState.DRAINING, reason="draining: finishing its work, then exiting"))
        site = self.engine.head_site(cluster)
        task = asyncio.create_task(self._drain_then_cancel(cluster, list(pilots), site))
        self._drain_tasks.add(task)
        task.add_done_callback(self._drain_tasks.discard)

    async def _drain_then_cancel(self, cluster: Cluster, pilots: list[Pilot], site: Site) -> None:
        """Ask the middleware to retire the workers (a retired worker exits by itself); when it
        cannot, cancel their pilots."""
        try:
            await self.middleware.drain(site.executor, cluster.head, [p.tag for p in pilots])
        except Exception as exc:
            await self._cancel(cluster, pilots, f"cancelled: draining failed ({exc})")
            await self._publish(cluster, "drain", f"draining failed ({exc}); the pilots were cancelled")
        self.wake.set()

    async def _cancel(self, cluster: Cluster, pilots: Sequence[Pilot], reason: str) -> None:
        by_site: dict[str, list[Pilot]] = {}
        for pilot in pilots:
            by_site.setdefault(pilot.allocation, []).append(pilot)
        for allocation, group in by_site.items():
            site = self.engine.site(cluster, allocation)
            await site.batch.cancel(site.executor, group)
            for pilot in group:
                self._cancelled.add(pilot.tag)
                pilot.reason = reason
                self.writes.pilots.append(pilot)

    async def _submit(self, cluster: Cluster, intents: Sequence[Pilot]) -> None:
        by_site: dict[str, list[Pilot]] = {}
        for pilot in intents:
            if pilot.state is PilotState.INTENT:
                by_site.setdefault(pilot.allocation, []).append(pilot)
        workers = cluster.blueprint.workers
        for allocation, group in by_site.items():
            site = self.engine.site(cluster, allocation)
            if self._backoff.get(allocation, (0.0, 0.0, ""))[0] > time.time():
                continue
            gate = self.gate.environment(cluster, site)
            submission = Submission(
                pilots=group,
                shape=PilotShape(
                    workers.cores, workers.memory_mb, workers.disk_mb, workers.walltime, site.partition, site.account, site.batch_options
                ),
                workdir=site.workdir,
                builder=await self.engine.builder_command(cluster, site),
                command=self.middleware.worker_command(cluster, cluster.head, PILOT_TAG, f"{site.workdir}/secrets"),
                env={**self.engine.cluster_environment(cluster), **self._monitor_environment(cluster), **gate},
            )
            try:
                await asyncio.shield(self._secrets_copy(cluster, allocation))
                job_ids = await site.batch.submit(site.executor, submission)
            except CommandFailed as exc:
                # The batch system said no, so these intents never became jobs: close them, and
                # the next cycle places their share on the other allocations.
                self._back_off(cluster, allocation, str(exc))
                for pilot in group:
                    self._apply(cluster, pilot, JobStatus(PilotState.DONE, reason=f"not submitted: {exc}"))
                self.wake.set()
                continue
            except Exception as exc:
                # The answer was lost (connection, timeout): the jobs may exist. Keep the intents;
                # the next status round trip finds them by tag, or they are submitted then.
                self._back_off(cluster, allocation, str(exc))
                continue
            self._backoff.pop(allocation, None)
            if gate:
                self.gate.watch(cluster, site)
            crash_point("after-reply-before-commit")
            now = time.time()
            for pilot in group:
                if pilot.tag in job_ids:
                    pilot.job_id, pilot.submitted_at = job_ids[pilot.tag], now
                    pilot.move(PilotState.QUEUED)
                    self.writes.pilots.append(pilot)

    def _monitor_environment(self, cluster: Cluster) -> dict[str, str]:
        """What every pilot's monitor (batch/monitor.py) watches: its lifetime, its head, idleness."""
        workers = cluster.blueprint.workers
        env = {"VC3_PILOT_LIFETIME": str(pilot_lifetime(workers.walltime))}
        if self.middleware.has_manager and cluster.head and cluster.head.address:
            env["VC3_HEAD_ADDRESS"] = cluster.head.address.rsplit("://", 1)[-1]
            env["VC3_HEAD_TIMEOUT"] = str(workers.head_timeout)
            if not self.middleware.ends_idle_workers:
                env["VC3_IDLE_TIMEOUT"] = str(workers.idle_timeout)
        if self.middleware.joined_line:
            env["VC3_JOINED_LINE"] = self.middleware.joined_line
        return env

    async def _take_secrets(self, cluster: Cluster, folder: Path) -> None:
        """An external head's worker secrets (head.secrets, on this machine) go where a head's
        own would be, so they reach every site the same way."""
        head = self.engine.head_site(cluster)
        await head.executor.run(["mkdir", "-p", "-m", "700", f"{head.workdir}/secrets"])
        for name in self.middleware.worker_secrets:
            if (folder / name).is_file():
                content = (folder / name).read_bytes()
                self.engine.redactor.add(content)
                await head.executor.put(content, f"{head.workdir}/secrets/{name}", mode=0o600)

    def _secrets_copy(self, cluster: Cluster, allocation: str) -> asyncio.Task[None]:
        """The copy of the secrets workers need to an allocation's site: started once (by the
        head's start, so the first submission finds it done), and again after one that failed."""
        copy = self._secrets_copies.get(allocation)
        if copy is None or (copy.done() and (copy.cancelled() or copy.exception())):
            copy = self._secrets_copies[allocation] = asyncio.create_task(self._copy_secrets(cluster, allocation))
            copy.add_done_callback(lambda task: task.cancelled() or task.exception())  # seen at submission
        return copy

    async def _copy_secrets(self, cluster: Cluster, allocation: str) -> None:
        """From the head to a site that is not the head's."""
        site, head = self.engine.site(cluster, allocation), self.engine.head_site(cluster)
        if not self.middleware.worker_secrets or site.workdir == head.workdir:
            return
        found = await self._head_secrets(cluster)
        if found:
            await site.executor.run(["mkdir", "-p", "-m", "700", f"{site.workdir}/secrets"])
        for name, content in found.items():
            await site.executor.put(content, f"{site.workdir}/secrets/{name}", mode=0o600)

    def _back_off(self, cluster: Cluster, allocation: str, error: str) -> None:
        """Wait longer after each failed submission (30 s doubling to 30 min), and say why."""
        seconds = min(1800.0, 2 * self._backoff.get(allocation, (0.0, 15.0, ""))[1])
        self._backoff[allocation] = (time.time() + seconds, seconds, error)
        self.event(cluster, "submit", f"allocation {allocation}: {error}; retrying in {int(seconds)} s")

    def _conditions(self, cluster: Cluster, pilots: Sequence[Pilot], target: int) -> None:
        states = Counter((p.state, p.stage is PilotStage.WORKER_JOINED) for p in pilots)
        joined = states[(PilotState.RUNNING, True)]
        draining = states[(PilotState.DRAINING, True)] + states[(PilotState.DRAINING, False)]
        conditions = [
            Condition(kind=ClusterCondition.BACKED_OFF, allocation=name, reason=error)
            for name, (until, _, error) in sorted(self._backoff.items())
            if until > time.time()
        ]
        if draining:
            conditions.append(Condition(kind=ClusterCondition.DRAINING, reason=f"draining {draining} worker{'s' * (draining != 1)}"))
        if joined < target:
            conditions.append(Condition(kind=ClusterCondition.SCALING_UP, reason=f"{joined} of {target} workers joined"))
        elif not draining:
            conditions.append(Condition(kind=ClusterCondition.AT_TARGET, reason=f"{joined} worker{'s' * (joined != 1)} joined"))
        if cluster.blueprint.autoscale:
            conditions.append(Condition(kind=ClusterCondition.AUTOSCALING, reason=self._autoscale_reason))
        if cluster.expires_at and cluster.expires_at - time.time() < 3600:
            conditions.append(Condition(kind=ClusterCondition.EXPIRING, reason="expires within the hour"))
        if [(c.kind, c.reason) for c in conditions] != [(c.kind, c.reason) for c in cluster.conditions]:
            cluster.conditions = conditions
            self.writes.clusters.append(cluster)

    # teardown

    async def _teardown(self, cluster: Cluster) -> None:
        pilots = await self._live_pilots()
        unsubmitted = await self._refresh(cluster, pilots)
        for pilot in unsubmitted:
            self._apply(cluster, pilot, JobStatus(PilotState.DONE, reason="terminated before submission"))
        live = [p for p in pilots if not p.state.ended]
        if live:
            if self._teardown_deadline is None:
                self._teardown_deadline = time.monotonic() + (PEACEFUL_GRACE if cluster.peaceful else 0)
                queued = [p for p in live if p.state in (PilotState.QUEUED, PilotState.HELD)]
                await self._cancel(cluster, queued, "cancelled: cluster terminating")
                running = [p for p in live if p.state in (PilotState.RUNNING, PilotState.UNKNOWN)]
                if cluster.peaceful and not self._asks_manager(cluster):
                    self._drain(cluster, running)
                elif cluster.peaceful and cluster.head and cluster.head.address and not await self._manager_idle(cluster):
                    self._drain(cluster, running)
                else:
                    await self._cancel(cluster, running, "cancelled: cluster terminating")
            elif time.monotonic() > self._teardown_deadline:
                await self._cancel(cluster, live, "cancelled: did not drain in time")
            return
        await self.head.stop(cluster)
        await self._remove_staged_files(cluster)
        cluster.conditions = []
        self.move(cluster, ClusterState.TERMINATED, "no pilot or head left")

    async def _manager_idle(self, cluster: Cluster) -> bool:
        """Whether the manager has no task left for any worker: then there is nothing to drain."""
        try:
            return await self.middleware.demand(self.engine.head_site(cluster).executor, cluster) == 0
        except Exception:
            return False

    async def _remove_staged_files(self, cluster: Cluster) -> None:
        for site in {site.workdir: site for site in [*self.sites(cluster), self.engine.head_site(cluster)]}.values():
            if site.executor.label == "local":
                await asyncio.to_thread(shutil.rmtree, Path(site.workdir), True)
            else:
                await site.executor.run(["rm", "-rf", "--", site.workdir])

    # helpers

    def _asks_manager(self, cluster: Cluster) -> bool:
        """Whether there is a manager of ours to ask about workers, demand and draining."""
        return self.middleware.has_manager and not (cluster.head and cluster.head.external)

    def sites(self, cluster: Cluster) -> list[Site]:
        return [self.engine.site(cluster, use.name) for use in cluster.blueprint.allocations]

    async def _log_tail(self, site: Site, pilot_dir: str, stage: PilotStage | None) -> str:
        name = "build.log" if stage in (None, PilotStage.STARTED, PilotStage.BUILDING) else "worker.log"
        result = await site.executor.run(["tail", "-n", str(LOG_TAIL_LINES), f"{pilot_dir}/{name}"], timeout=30)
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        errors = [n for n, line in enumerate(lines) if line.startswith(BUILDER_ERROR)]
        if errors:  # the builder's own verdict, not the plan log before it
            lines = [lines[errors[-1]].removeprefix(BUILDER_ERROR).strip(), *lines[errors[-1] + 1 :]]
        return " | ".join(lines[-LOG_TAIL_LINES:]) or f"no output in {pilot_dir}/{name}"

    def move(self, cluster: Cluster, state: ClusterState, reason: str) -> None:
        cluster.move(state, reason)
        self.writes.clusters.append(cluster)
        self.event(cluster, "state", f"{state}: {reason}")

    def event(self, cluster: Cluster, kind: str, message: str) -> None:
        self.writes.events.append(Event(cluster_id=cluster.id, kind=kind, message=message))

    async def _publish(self, cluster: Cluster, kind: str, message: str) -> None:
        self.event(cluster, kind, message)
        await self._commit()

    async def _commit(self) -> None:
        writes, self.writes = self.writes, CycleWrites()
        if writes:
            writes.clusters = list({id(c): c for c in writes.clusters}.values())
            writes.pilots = list({p.tag: p for p in writes.pilots}.values())
            await self.engine.commit(writes)

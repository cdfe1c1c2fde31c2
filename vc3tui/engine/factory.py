"""The factory: per cluster, a loop that makes the live pilots match what the cluster wants.

Each cycle reads the store (any process may have written a new size), asks each allocation's batch
system for all of the cluster's pilots in one round trip, asks the middleware which workers joined,
then submits or removes pilots. Intent is written before action: new pilots are committed as rows
before their jobs are submitted, and an intent found again after a crash is looked for by tag
before it is ever submitted a second time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from vc3tui.engine.connect_back import ConnectBacks
from vc3tui.engine.crashpoints import crash_point
from vc3tui.engine.gate import ManagerGate
from vc3tui.engine.head import HeadNode, HeadStart
from vc3tui.engine.interfaces import CommandFailed, JobStatus, Middleware, Submission
from vc3tui.engine.middleware import http
from vc3tui.engine.models import Cluster, Pilot
from vc3tui.engine.pilot import PILOT_TAG, monitor_environment
from vc3tui.engine.removal import Removal
from vc3tui.engine.scaling import Backoff, StartFailures, autoscale_step, cluster_conditions, next_backoff, shrink_order, start_verdict
from vc3tui.engine.services import Changes, Services
from vc3tui.engine.site import Site
from vc3tui.engine.sites import cluster_environment
from vc3tui.engine.spread import spread
from vc3tui.engine.states import ClusterState, PilotState
from vc3tui.engine.store import Store
from vc3tui.engine.tracking import PilotTracker
from vc3tui.engine.worker_secrets import WorkerSecrets

LIVE = (PilotState.INTENT, PilotState.QUEUED, PilotState.RUNNING, PilotState.DRAINING, PilotState.HELD, PilotState.UNKNOWN)
HEAD_FAST_POLL = 10.0


class Factory:
    def __init__(self, cluster_id: str, middleware: Middleware, services: Services) -> None:
        self.cluster_id = cluster_id
        self.middleware = middleware
        self.store = services.store
        self.lease = services.lease
        self.sites = services.sites
        self.changes = Changes(services.bus)
        self.secrets = WorkerSecrets(services.sites, services.redactor, middleware)
        self.head = HeadNode(services.sites, services.redactor, services.installation_id, middleware)
        self.start = HeadStart(services, middleware, self.changes, self.head, self.secrets)
        self.pilots = PilotTracker(services.sites, middleware, self.changes)
        self.gate = ManagerGate(services.sites, middleware)
        self.connect_back = ConnectBacks(services.sites, middleware, self.changes)
        self.wake = asyncio.Event()
        self.removal = Removal(services.sites, middleware, self.pilots, self.changes, self.head, self.connect_back, self.wake)
        self._backoff: dict[str, Backoff] = {}
        self._start_failures: dict[str, StartFailures] = {}
        self._last_error = ""
        self._idle_since: float | None = None
        self._autoscale_reason = ""

    # the loop

    async def run(self) -> None:
        warming: asyncio.Task[None] | None = None
        try:
            cluster = await self.store.run(Store.cluster, self.cluster_id)
            if cluster is None:
                return
            await self.sites.prepare(cluster)
            warming = asyncio.create_task(self._warm_sites(cluster))
            while True:
                cluster = await self.store.run(Store.cluster, self.cluster_id)
                if cluster is None:
                    return
                if not await self.lease.renew(self.cluster_id):
                    await self.changes.publish(cluster, "lease", "another process now manages this cluster; stopped here")
                    return
                try:
                    await self.cycle(cluster)
                    self._last_error = ""
                except Exception as exc:  # a site's failure must not end the loop; say it (once) and retry
                    error = f"factory cycle failed: {type(exc).__name__}: {exc}"
                    if error != self._last_error:
                        self.changes.event(cluster, "error", error)
                    self._last_error = error
                await self.changes.commit()
                if cluster.state is ClusterState.TERMINATED:
                    return
                await self._sleep(self.interval(cluster))
        finally:
            self.removal.close()
            if warming:
                warming.cancel()
            await self.secrets.close()
            await self.gate.close()
            await self.lease.release(self.cluster_id)

    async def _warm_sites(self, cluster: Cluster) -> None:
        """Log into every pilot site and stage its builder while the head starts, so the first
        submission finds both done (a failure is reported by the cycle that needs the site); read a
        resumed head's secrets (made by another process) so they are redacted here too."""
        if cluster.state in (ClusterState.TERMINATING, ClusterState.TERMINATED):
            return
        sites = [site for site in self.sites.pilot_sites(cluster) if not self.sites.is_local(site)]
        learned = [self.secrets.on_head(cluster)] if cluster.head and not cluster.head.external else []
        # the TLS context every HTTP client shares (its CA bundle takes a few hundredths to load)
        primed = [asyncio.to_thread(http.tls_context)] if self.middleware.has_manager else []
        await asyncio.gather(*(self.sites.builder_command(cluster, site) for site in sites), *learned, *primed, return_exceptions=True)

    async def cycle(self, cluster: Cluster) -> None:
        if cluster.state not in (ClusterState.TERMINATING, ClusterState.TERMINATED):
            if cluster.terminate_requested:
                self.changes.move(cluster, ClusterState.TERMINATING, f"as requested ({'peaceful' if cluster.peaceful else 'at once'})")
            elif cluster.expires_at and time.time() > cluster.expires_at:
                self.changes.move(cluster, ClusterState.TERMINATING, "the cluster reached its expiration")
        if cluster.state is ClusterState.NEW:
            await self.start.begin(cluster)
            if cluster.state is not ClusterState.NEW:
                self.wake.set()
        elif cluster.state is ClusterState.STARTING_HEAD:
            first = await self.start.progress(cluster)
            if cluster.state is ClusterState.RUNNING:
                self.wake.set()
                if first:
                    await self.changes.commit()  # said now, an entry point starts while the first pilots go out
            if first:
                await self._submit_early(cluster)
        elif cluster.state is ClusterState.RUNNING:
            if await self.start.alive(cluster):
                await self._reconcile(cluster)
        elif cluster.state is ClusterState.FAILED:
            await self.pilots.refresh(cluster, await self._live_pilots())
        elif cluster.state is ClusterState.TERMINATING:
            await self._teardown(cluster)

    def interval(self, cluster: Cluster) -> float:
        if cluster.state is ClusterState.STARTING_HEAD and cluster.head and time.time() - (cluster.head.started_at or 0) < HEAD_FAST_POLL:
            return 0.02  # most managers are up within a second: every fiftieth saved is latency
        if cluster.state in (ClusterState.NEW, ClusterState.STARTING_HEAD, ClusterState.TERMINATING):
            return 0.5
        poll = min(site.poll_interval for site in self.sites.pilot_sites(cluster))
        busy = any(c.kind in ("scaling_up", "draining") for c in cluster.conditions)
        return min(poll, 1.0) if busy else poll

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self.wake.clear()

    # pilots

    async def _live_pilots(self) -> list[Pilot]:
        return await self.store.run(Store.pilots, self.cluster_id, states=LIVE)

    async def _submit_early(self, cluster: Cluster) -> None:
        """Submit the first pilots once the manager's address is known, while it finishes starting:
        their queue time overlaps its start; workers retry until it answers (or wait for a user's
        own manager: gate.py). Intents are rows before jobs exist; a restarted engine adopts them."""
        if await self._live_pilots():
            return
        target = cluster.blueprint.autoscale.min if cluster.blueprint.autoscale else cluster.requested
        if target:
            await self._submit(cluster, await self._new_intents(cluster, [], target))

    async def _reconcile(self, cluster: Cluster) -> None:
        pilots = await self._live_pilots()
        # side by side: a silent site holds up each for as long as a status query may take
        _, unsubmitted = await asyncio.gather(self.connect_back.keep(cluster), self.pilots.refresh(cluster, pilots))
        await self.pilots.mark_joined(cluster, pilots)
        verdict = start_verdict(self._start_failures, pilots, [a.name for a in cluster.blueprint.allocations], time.time())
        self._start_failures = verdict.tally
        for allocation, backoff in verdict.backoffs.items():
            self._backoff[allocation] = backoff
            self.changes.event(cluster, "submit", f"allocation {allocation}: {backoff.said}")
        if verdict.cluster_failure:
            self.changes.move(cluster, ClusterState.FAILED, verdict.cluster_failure)
            return
        away = self.pilots.away(cluster, time.time())
        live = [p for p in pilots if p.state in LIVE and p.state is not PilotState.DRAINING and p.allocation not in away]
        target = await self._autoscale(cluster, len(live)) if cluster.blueprint.autoscale else cluster.requested
        if len(live) < target:
            unsubmitted += await self._new_intents(cluster, live, target, away)
            crash_point("after-intent")
        elif len(live) > target:
            unsubmitted = await self._shrink(cluster, live, len(live) - target, target, unsubmitted)
        await self._submit(cluster, unsubmitted)
        held = await self.pilots.ask_held(cluster)
        conditions = cluster_conditions(cluster, pilots, target, self._backoff, self._autoscale_reason, time.time(), held)
        if [(c.kind, c.reason) for c in conditions] != [(c.kind, c.reason) for c in cluster.conditions]:
            cluster.conditions = conditions
            self.changes.writes.clusters.append(cluster)

    async def _autoscale(self, cluster: Cluster, live: int) -> int:
        try:
            demand = await self.middleware.demand(self.sites.head_site(cluster).executor, cluster)
        except Exception as exc:
            self.changes.event(cluster, "middleware", f"could not ask the manager for its demand: {exc}")
            demand = live
        step = autoscale_step(cluster.blueprint.autoscale, demand, live, self._idle_since, time.monotonic())
        self._idle_since, self._autoscale_reason = step.idle_since, step.reason
        if cluster.target != step.target:
            cluster.target = step.target
            self.changes.writes.clusters.append(cluster)
        return step.target

    async def _new_intents(self, cluster: Cluster, live: Sequence[Pilot], target: int, away: set[str] = frozenset()) -> list[Pilot]:
        now = time.time()
        backed_off = {name for name, backoff in self._backoff.items() if backoff.until > now}
        present = [use for use in cluster.blueprint.allocations if use.name not in away]  # with every site away: nowhere to go
        plan = spread(target, present, Counter(p.allocation for p in live), avoid=backed_off)
        if plan:
            await self.changes.commit()  # why these pilots are needed is in the store before they are
        intents: list[Pilot] = []
        for allocation, count in plan.items():
            intents += await self.store.run(Store.add_pilot_intents, cluster.id, allocation, count)
        if intents:
            self.changes.event(cluster, "scale", f"requesting {len(intents)} more worker{'s' * (len(intents) != 1)} (target {target})")
        return intents

    async def _shrink(self, cluster: Cluster, live: list[Pilot], excess: int, target: int, unsubmitted: list[Pilot]) -> list[Pilot]:
        """Remove `excess` pilots: never-submitted intents, then queued, then the youngest running."""
        victims = shrink_order(live, unsubmitted)[:excess]
        for pilot in victims:
            if pilot in unsubmitted:
                self.pilots.apply(cluster, pilot, JobStatus(PilotState.DONE, reason="no longer needed before submission"))
        queued = [p for p in victims if p.state in (PilotState.QUEUED, PilotState.HELD)]
        running = [p for p in victims if p.state in (PilotState.RUNNING, PilotState.UNKNOWN)]
        await self.removal.cancel(cluster, queued, "cancelled while queued: shrinking")
        if cluster.peaceful:
            self.removal.drain(cluster, running)
        else:
            await self.removal.cancel(cluster, running, "cancelled: shrinking without draining")
        how = "peaceful" if cluster.peaceful else "at once"
        self.changes.event(cluster, "scale", f"removing {len(victims)} pilot{'s' * (len(victims) != 1)} (target {target}, {how})")
        return [p for p in unsubmitted if p not in victims]

    async def _submit(self, cluster: Cluster, intents: Sequence[Pilot]) -> None:
        by_site: dict[str, list[Pilot]] = {}
        for pilot in intents:
            if pilot.state is PilotState.INTENT:
                by_site.setdefault(pilot.allocation, []).append(pilot)
        for allocation, group in by_site.items():
            backoff = self._backoff.get(allocation)
            if backoff and backoff.until > time.time():
                continue
            site = self.sites.site(cluster, allocation)
            gate = self.gate.environment(cluster, site)
            submission = await self._submission(cluster, site, group, gate)
            try:
                await asyncio.shield(self.secrets.copy(cluster, allocation))
                job_ids = await site.batch.submit(site.executor, submission)
            except CommandFailed as exc:
                # the batch system said no: these never became jobs; the next cycle places them elsewhere
                self._back_off(cluster, allocation, str(exc))
                for pilot in group:
                    self.pilots.apply(cluster, pilot, JobStatus(PilotState.DONE, reason=f"not submitted: {exc}"))
                self.wake.set()
                continue
            except Exception as exc:
                # the answer was lost: the jobs may exist; the next status query finds them by tag, or not
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
                    self.changes.writes.pilots.append(pilot)

    async def _submission(self, cluster: Cluster, site: Site, pilots: list[Pilot], gate: dict[str, str]) -> Submission:
        head = await self.connect_back.head_for(cluster, site)
        return Submission(
            pilots=pilots,
            shape=site.shape(cluster.blueprint.workers, cluster.blueprint.workers.walltime),
            workdir=site.workdir,
            builder=await self.sites.builder_command(cluster, site),
            command=self.middleware.worker_command(cluster, head, PILOT_TAG, f"{site.workdir}/secrets"),
            env={**cluster_environment(cluster), **monitor_environment(cluster, self.middleware, head), **gate},
        )

    def _back_off(self, cluster: Cluster, allocation: str, error: str) -> None:
        backoff = self._backoff[allocation] = next_backoff(self._backoff.get(allocation), error, time.time())
        self.changes.event(cluster, "submit", f"allocation {allocation}: {backoff.said}")

    # teardown

    async def _teardown(self, cluster: Cluster) -> None:
        pilots = await self._live_pilots()
        unsubmitted = await self.pilots.refresh(cluster, pilots)
        for pilot in unsubmitted:
            self.pilots.apply(cluster, pilot, JobStatus(PilotState.DONE, reason="terminated before submission"))
        await self.removal.teardown(cluster, [p for p in pilots if not p.state.ended])

"""Pilots leaving a cluster: cancelled in one call per allocation, or drained through the manager
(a retired worker finishes its work and exits by itself); and, when the cluster ends, everything:
queued pilots cancelled, running ones drained (or cancelled when there is nothing left to do or
no time), then the head stopped and the cluster's staged files removed from every site."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vc3tui.engine.connect_back import ConnectBacks
from vc3tui.engine.head import HeadNode, asks_manager
from vc3tui.engine.interfaces import JobStatus, Middleware
from vc3tui.engine.models import Cluster, Pilot
from vc3tui.engine.services import Changes
from vc3tui.engine.site import Site
from vc3tui.engine.sites import Sites, each_once
from vc3tui.engine.states import ClusterState, PilotState
from vc3tui.engine.tracking import PilotTracker

PEACEFUL_GRACE = 120.0
"""Seconds a terminating cluster's workers get to drain before they are cancelled."""


@dataclass(eq=False)
class Removal:
    """What a cluster's factory hands over for taking pilots (and at the end, the cluster) away."""

    sites: Sites
    middleware: Middleware
    tracker: PilotTracker
    changes: Changes
    head: HeadNode
    relays: ConnectBacks
    wake: asyncio.Event
    _drains: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _deadline: float | None = field(default=None, init=False)

    def close(self) -> None:
        for task in self._drains:
            task.cancel()

    async def cancel(self, cluster: Cluster, pilots: Sequence[Pilot], reason: str) -> None:
        by_site: dict[str, list[Pilot]] = {}
        for pilot in pilots:
            by_site.setdefault(pilot.allocation, []).append(pilot)
        for allocation, group in by_site.items():
            site = self.sites.site(cluster, allocation)
            await site.batch.cancel(site.executor, group)
            for pilot in group:
                self.tracker.cancelled.add(pilot.tag)
                pilot.reason = reason
                self.changes.writes.pilots.append(pilot)

    def drain(self, cluster: Cluster, pilots: Sequence[Pilot]) -> None:
        if not pilots:
            return
        if asks_manager(self.middleware, cluster):
            for pilot in pilots:
                self.tracker.apply(cluster, pilot, JobStatus(PilotState.DRAINING, reason="draining: finishing its work, then exiting"))
            draining = self._drain_then_cancel(cluster, list(pilots), self.sites.head_site(cluster))
        else:
            draining = self.cancel(cluster, pilots, "stopped with SIGTERM: no manager to drain through")
        task = asyncio.create_task(draining)
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain_then_cancel(self, cluster: Cluster, pilots: list[Pilot], site: Site) -> None:
        """Ask the middleware to retire the workers; when it cannot, cancel their pilots."""
        try:
            await self.middleware.drain(site.executor, cluster.head, [p.tag for p in pilots])
        except Exception as exc:
            await self.cancel(cluster, pilots, f"cancelled: draining failed ({exc})")
            await self.changes.publish(cluster, "drain", f"draining failed ({exc}); the pilots were cancelled")
        self.wake.set()

    async def teardown(self, cluster: Cluster, live: Sequence[Pilot]) -> None:
        """One step of taking the cluster down; it is terminated once no pilot lives."""
        if live:
            if self._deadline is None:
                self._deadline = time.monotonic() + (PEACEFUL_GRACE if cluster.peaceful else 0)
                queued = [p for p in live if p.state in (PilotState.QUEUED, PilotState.HELD)]
                await self.cancel(cluster, queued, "cancelled: cluster terminating")
                running = [p for p in live if p.state in (PilotState.RUNNING, PilotState.UNKNOWN)]
                if cluster.peaceful and not asks_manager(self.middleware, cluster):
                    self.drain(cluster, running)
                elif cluster.peaceful and cluster.head and cluster.head.address and not await self._manager_idle(cluster):
                    self.drain(cluster, running)
                else:
                    await self.cancel(cluster, running, "cancelled: cluster terminating")
            elif time.monotonic() > self._deadline:
                await self.cancel(cluster, live, "cancelled: did not drain in time")
            return
        await self.head.stop(cluster)
        self.relays.release(cluster)
        await self._remove_staged_files(cluster)
        cluster.conditions = []
        self.changes.move(cluster, ClusterState.TERMINATED, "no pilot or head left")

    async def _manager_idle(self, cluster: Cluster) -> bool:
        """Whether the manager has no task left for any worker: then there is nothing to drain."""
        try:
            return await self.middleware.demand(self.sites.head_site(cluster).executor, cluster) == 0
        except Exception:
            return False

    async def _remove_staged_files(self, cluster: Cluster) -> None:
        sites = [*self.sites.pilot_sites(cluster), self.sites.head_site(cluster)]
        for site in each_once(sites):
            if self.sites.is_local(site):
                await asyncio.to_thread(shutil.rmtree, Path(site.workdir), True)
            else:
                await site.executor.run(["rm", "-rf", "--", site.workdir])

"""The pilots as their sites and their manager see them: one status round trip per allocation
per cycle for all of a cluster's pilots, the manager's word on which workers joined, and each
change written with its reason (a failure with the last words of the pilot's own log)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import TypeVar

from vc3tui.engine.head import asks_manager
from vc3tui.engine.interfaces import JobStatus, Middleware
from vc3tui.engine.logs import log_tail
from vc3tui.engine.models import Cluster, Pilot
from vc3tui.engine.scaling import joined_stage
from vc3tui.engine.services import Changes
from vc3tui.engine.site import Site
from vc3tui.engine.sites import Sites
from vc3tui.engine.states import PilotStage, PilotState
from vc3tui.engine.text import printable

T = TypeVar("T")
JOIN_GRACE = 300.0
"""A worker started this long ago that the manager has not seen is said to be missing."""
SITE_ANSWER = 30.0
"""A site whose status round trip takes longer is taken as silent this cycle (its pilots unknown),
unless its login may be asking a person something."""


async def site_answer(site: Site, work: Awaitable[T]) -> T:
    """`work` on a site, given up after SITE_ANSWER (asyncio.TimeoutError), unless its login may be
    asking a person: a cycle is not held up by a site that went silent."""
    return await (work if site.executor.asks_person else asyncio.wait_for(work, SITE_ANSWER))


class PilotTracker:
    def __init__(self, sites: Sites, middleware: Middleware, changes: Changes) -> None:
        self.sites = sites
        self.middleware = middleware
        self.changes = changes
        self.cancelled: set[str] = set()
        """Tags this process cancelled: a pilot that then leaves no trace ended as asked, not lost."""
        self.answered: dict[str, float] = {}
        """When each allocation last answered a status round trip."""
        self.silent_since: dict[str, float] = {}
        """Allocations whose last status round trip failed, since their last answer (else the
        first failure): the pilots there lost their head from about then, not from when a
        query first gave up."""
        self.failed_over: set[str] = set()
        self.held: tuple[str, ...] = ()
        """What the manager held at its last answer."""
        self.held_error = ""

    def away(self, cluster: Cluster, now: float) -> set[str]:
        """Allocations silent for longer than the pilots' head timeout: their pilots can be neither
        seen nor reached, so they count for nothing and their share moves to the others (said once);
        when the site answers again its pilots are tracked as before."""
        timeout = cluster.blueprint.workers.head_timeout
        for allocation, since in self.silent_since.items():
            if timeout and now - since > timeout and allocation not in self.failed_over:
                self.failed_over.add(allocation)
                others = any(use.name not in self.failed_over for use in cluster.blueprint.allocations)
                share = "its share moves to the other allocations" if others else "no other allocation can take its share"
                self.changes.event(
                    cluster, "site", f"allocation {allocation} has not answered for {now - since:.0f} s (its pilots' head timeout is "
                    f"{timeout} s): backed off, {share} until it answers",
                )  # fmt: skip
        return set(self.failed_over)

    async def refresh(self, cluster: Cluster, pilots: Sequence[Pilot]) -> list[Pilot]:
        """Update pilots from one status round trip per allocation, all at once (a site that does
        not answer holds up no other); return the intents never submitted."""
        by_site: dict[str, list[Pilot]] = {}
        for pilot in pilots:
            by_site.setdefault(pilot.allocation, []).append(pilot)
        found = await asyncio.gather(*(self._refresh_site(cluster, allocation, group) for allocation, group in by_site.items()))
        return [pilot for unsubmitted in found for pilot in unsubmitted]

    async def _refresh_site(self, cluster: Cluster, allocation: str, group: list[Pilot]) -> list[Pilot]:
        site = self.sites.site(cluster, allocation)
        unsubmitted: list[Pilot] = []
        try:
            statuses = await site_answer(site, site.batch.status(site.executor, group, site.workdir))
        except Exception as exc:
            why = f"no answer in {SITE_ANSWER:.0f} s" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            self.silent_since.setdefault(allocation, self.answered.get(allocation, time.time()))
            for pilot in group:
                if pilot.state is not PilotState.INTENT:
                    self.apply(cluster, pilot, JobStatus(PilotState.UNKNOWN, reason=f"status query failed: {why}"))
            return unsubmitted
        self.answered[allocation] = time.time()
        silent = self.silent_since.pop(allocation, None)
        if silent is not None and allocation in self.failed_over:
            self.failed_over.discard(allocation)
            self.changes.event(cluster, "site", f"allocation {allocation} answers again after {time.time() - silent:.0f} s: its pilots are tracked again")
        for pilot in group:
            status = statuses.get(pilot.tag)
            if pilot.state is PilotState.INTENT and (status is None or status.state is PilotState.INTENT):
                unsubmitted.append(pilot)
            elif status is None and pilot.tag in self.cancelled:
                self.apply(cluster, pilot, JobStatus(PilotState.DONE, reason=pilot.reason or "cancelled"))
            elif status is None:
                self.apply(cluster, pilot, JobStatus(PilotState.LOST, reason="its job is gone and it left no exit marker"))
            else:
                if status.state in (PilotState.FAILED, PilotState.LOST):
                    tail = await log_tail(site, f"{site.workdir}/pilots/{pilot.tag}", status.stage)
                    status = replace(status, reason=f"{status.reason}: {tail}")
                self.apply(cluster, pilot, status)
        return unsubmitted

    def apply(self, cluster: Cluster, pilot: Pilot, status: JobStatus) -> None:
        if status.reason and not status.reason.isprintable():  # fast, and true of any control character
            status = replace(status, reason=printable(status.reason))  # a site's words, shown and never acted on
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
                self.changes.event(cluster, "adopt", f"pilot {pilot.index} found on {pilot.allocation} as job {status.job_id}; adopted, not submitted again")
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
                self.changes.event(cluster, "pilot", f"pilot {pilot.index} on {pilot.allocation} {state}: {pilot.reason}")
        if (pilot.state, pilot.stage, pilot.host, pilot.exit_code, pilot.job_id) != old:
            self.changes.writes.pilots.append(pilot)

    async def ask_held(self, cluster: Cluster) -> tuple[str, ...]:
        """What the manager holds until someone acts (a user's held jobs), said as an event when
        it changes; the last answer stands while the manager does not give one."""
        if not asks_manager(self.middleware, cluster) or cluster.head is None or not cluster.head.address:
            return ()
        try:
            held = tuple(await self.middleware.held(self.sites.head_site(cluster).executor, cluster))
        except Exception as exc:
            if str(exc) != self.held_error:  # said once while it stays the same
                self.held_error = str(exc)
                self.changes.event(cluster, "middleware", f"could not ask the {cluster.blueprint.middleware} manager what it holds: {exc}")
            return self.held
        self.held_error = ""
        if held != self.held:
            self.held = held
            self.changes.event(cluster, "middleware", f"the {cluster.blueprint.middleware} manager holds: {'; '.join(held)}" if held else "nothing held any more")
        return held

    async def mark_joined(self, cluster: Cluster, pilots: Sequence[Pilot]) -> None:
        """Which workers joined: as their pilots' logs say (a middleware that names no worker),
        as started (no manager of ours to ask), or as the manager itself reports."""
        if self.middleware.joined_line:
            joined = {p.tag for p in pilots if p.stage is PilotStage.WORKER_JOINED}
        elif not asks_manager(self.middleware, cluster):
            joined = {p.tag for p in pilots if p.stage in (PilotStage.WORKER_STARTED, PilotStage.WORKER_JOINED)}
        else:
            try:
                workers = await self.middleware.workers(self.sites.head_site(cluster).executor, cluster.head)
            except Exception as exc:
                self.changes.event(cluster, "middleware", f"could not ask the {cluster.blueprint.middleware} manager for workers: {exc}")
                return
            joined = {w.tag for w in workers if w.tag}
        now = time.time()
        for pilot in pilots:
            if pilot.state not in (PilotState.RUNNING, PilotState.DRAINING):
                continue
            stage = joined_stage(pilot, joined)
            if stage is not pilot.stage:
                pilot.stage = stage
                self.changes.writes.pilots.append(pilot)
            if stage is PilotStage.WORKER_STARTED and pilot.started_at and now - pilot.started_at > JOIN_GRACE:
                if not pilot.reason.startswith("worker has not joined"):
                    pilot.reason = f"worker has not joined the manager {int(now - pilot.started_at)} s after starting; see its worker.log"
                    self.changes.writes.pilots.append(pilot)
                    self.changes.event(cluster, "pilot", f"pilot {pilot.index} on {pilot.allocation}: {pilot.reason}")

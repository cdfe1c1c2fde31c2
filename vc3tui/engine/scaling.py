"""The factory's rules, as pure functions: the autoscale target, which pilots go first when a
cluster shrinks, how long a failing allocation waits, and the conditions a cluster shows. No
site, store or clock is touched here: the factory hands in what it saw and the time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from vc3tui.engine.models import Autoscale, Cluster, Condition, Pilot
from vc3tui.engine.states import ClusterCondition, PilotStage, PilotState

FIRST_BACKOFF = 30.0
MAX_BACKOFF = 1800.0
EXPIRING_WITHIN = 3600.0
START_WINDOW = 300.0
"""A pilot that fails within this long of starting (or before it starts) failed at start."""
MAX_START_FAILURES = 5
"""Failures at start in a row after which an allocation gets no more pilots from this cluster."""
START_BACKOFF = 5.0


@dataclass(frozen=True)
class AutoscaleStep:
    target: int
    idle_since: float | None
    reason: str


def autoscale_step(scale: Autoscale, demand: int, live: int, idle_since: float | None, now: float) -> AutoscaleStep:
    """The target from the manager's demand: clamped to min..max, up by `step` at most a cycle,
    and down only once demand has stayed below the live count for the idle time."""
    wanted = max(scale.min, min(scale.max, demand))
    if wanted >= live:
        idle_since = None
        target = min(wanted, live + scale.step)
    else:
        idle_since = idle_since if idle_since is not None else now
        target = wanted if now - idle_since >= scale.idle else live
    reason = f"demand {demand} workers, target {target} (min {scale.min}, max {scale.max})"
    if target < live:
        reason += f"; idle for {int(now - idle_since)} s"
    return AutoscaleStep(target, idle_since, reason)


def shrink_order(live: Sequence[Pilot], unsubmitted: Collection[Pilot]) -> list[Pilot]:
    """Who goes first: never-submitted intents, then queued pilots, then the youngest running."""
    return sorted(live, key=lambda p: (p not in unsubmitted, p.state is not PilotState.QUEUED, -(p.started_at or p.created_at)))


@dataclass(frozen=True)
class Backoff:
    """An allocation whose submissions fail waits until `until`, and says why."""

    until: float
    seconds: float
    error: str

    @property
    def said(self) -> str:
        """The error and the wait, as the cluster's events say it (a stopped allocation waits forever)."""
        return f"{self.error}; retrying in {int(self.seconds)} s" if self.seconds < math.inf else self.error


def next_backoff(previous: Backoff | None, error: str, now: float) -> Backoff:
    """30 s after the first failure, doubling after each one after, up to 30 min."""
    seconds = FIRST_BACKOFF if previous is None else min(MAX_BACKOFF, 2 * previous.seconds)
    return Backoff(now + seconds, seconds, error)


@dataclass(frozen=True)
class StartFailures:
    """Pilots of one allocation that failed at start, in a row, and the last one's reason."""

    count: int
    reason: str


@dataclass(frozen=True)
class StartVerdict:
    """What a cycle's failures at start mean: the new tally, the allocations to back off (or stop:
    an endless wait) and, when every allocation has stopped, why the cluster fails."""

    tally: dict[str, StartFailures]
    backoffs: dict[str, Backoff]
    cluster_failure: str | None


def start_verdict(previous: Mapping[str, StartFailures], pilots: Sequence[Pilot], allocations: Collection[str], now: float) -> StartVerdict:
    """Each of this cycle's pilots that has just failed at start (joined or not: a worker that
    ends within START_WINDOW never did work) adds one to its allocation's tally (a live joined
    worker clears it); an allocation whose tally grew waits START_BACKOFF,
    doubling with each failure in a row, and gets no more pilots after MAX_START_FAILURES."""
    tally = dict(previous)
    for pilot in pilots:
        if pilot.state is PilotState.FAILED and (pilot.started_at is None or (pilot.ended_at or 0) - pilot.started_at < START_WINDOW):
            before = tally.get(pilot.allocation, StartFailures(0, ""))
            tally[pilot.allocation] = StartFailures(before.count + 1, pilot.reason or "no reason given")
        elif pilot.stage is PilotStage.WORKER_JOINED and not pilot.state.ended:
            tally.pop(pilot.allocation, None)
    backoffs = {}
    for allocation, failures in tally.items():
        if failures != previous.get(allocation):
            error = f"pilots fail at start ({failures.count} in a row): {failures.reason}"
            if failures.count >= MAX_START_FAILURES:
                backoffs[allocation] = Backoff(math.inf, math.inf, f"no more pilots here: {error}")
            else:
                seconds = min(MAX_BACKOFF, START_BACKOFF * 2 ** (failures.count - 1))
                backoffs[allocation] = Backoff(now + seconds, seconds, error)
    stopped = sorted(a for a, f in tally.items() if f.count >= MAX_START_FAILURES)
    failure = None
    if stopped and set(allocations) <= set(stopped):
        failure = f"pilots on {', '.join(stopped)} fail at start: {tally[stopped[-1]].reason}"
    return StartVerdict(tally, backoffs, failure)


def cluster_conditions(
    cluster: Cluster, pilots: Sequence[Pilot], target: int, backoffs: Mapping[str, Backoff], autoscale_reason: str, now: float,
    held: Sequence[str] = (),
) -> list[Condition]:
    """What the cluster is doing this cycle, each with why."""
    states = Counter((p.state, p.stage is PilotStage.WORKER_JOINED) for p in pilots)
    joined = states[(PilotState.RUNNING, True)]
    draining = states[(PilotState.DRAINING, True)] + states[(PilotState.DRAINING, False)]
    conditions = [
        Condition(kind=ClusterCondition.BACKED_OFF, allocation=name, reason=backoff.error)
        for name, backoff in sorted(backoffs.items())
        if backoff.until > now
    ]
    if draining:
        conditions.append(Condition(kind=ClusterCondition.DRAINING, reason=f"draining {draining} worker{'s' * (draining != 1)}"))
    if joined < target:
        conditions.append(Condition(kind=ClusterCondition.SCALING_UP, reason=f"{joined} of {target} workers joined"))
    elif not draining:
        conditions.append(Condition(kind=ClusterCondition.AT_TARGET, reason=f"{joined} worker{'s' * (joined != 1)} joined"))
    if cluster.blueprint.autoscale:
        conditions.append(Condition(kind=ClusterCondition.AUTOSCALING, reason=autoscale_reason))
    if held:
        conditions.append(Condition(kind=ClusterCondition.WORK_HELD, reason="; ".join(held)))
    if cluster.expires_at and cluster.expires_at - now < EXPIRING_WITHIN:
        conditions.append(Condition(kind=ClusterCondition.EXPIRING, reason="expires within the hour"))
    return conditions


def joined_stage(pilot: Pilot, joined: Collection[str]) -> PilotStage | None:
    """A working pilot's stage once the manager has said which workers joined: joined, or back to
    started when its worker left the manager."""
    if pilot.tag in joined:
        return PilotStage.WORKER_JOINED
    if pilot.stage is PilotStage.WORKER_JOINED:
        return PilotStage.WORKER_STARTED
    return pilot.stage

"""The factory's rules: the pure ones table by table (autoscale, who goes first, backoff,
conditions, joined stages), and the worker that never joins with the real tracker, sites and
event bus of an engine. The manager there is a test double of the Middleware protocol that
reports no workers (a real manager that never sees a worker takes 5 minutes to flag)."""

from __future__ import annotations

import time

import pytest

from tests.factories import cluster as cluster_model
from vc3tui.engine.engine import Engine
from vc3tui.engine.middleware.plain import PlainCommand
from vc3tui.engine.models import Autoscale, Head, Pilot
from vc3tui.engine.tags import pilot_tag
from vc3tui.engine.scaling import (
    MAX_START_FAILURES, Backoff, StartFailures, autoscale_step, cluster_conditions, joined_stage, next_backoff, shrink_order, start_verdict,
)  # fmt: skip
from vc3tui.engine.services import Changes
from vc3tui.engine.states import ClusterCondition, PilotStage, PilotState
from vc3tui.engine.tracking import JOIN_GRACE, PilotTracker


class EmptyManager(PlainCommand):
    """A manager that answers, and has seen no worker."""

    has_manager = True

    async def workers(self, executor, head):
        return []


def pilot(index: int, state: PilotState = PilotState.RUNNING, stage: PilotStage | None = PilotStage.WORKER_STARTED, started_ago: float = 10) -> Pilot:
    made = Pilot(cluster_id="0123abcd", allocation="local", index=index, tag=pilot_tag("feedfacecafe", "0123abcd", index))
    made.state, made.stage, made.started_at, made.created_at = state, stage, time.time() - started_ago, time.time() - started_ago
    return made


SCALE = Autoscale(min=1, max=10, step=3, idle=60)


@pytest.mark.parametrize(
    "demand,live,idle_since,now,target,idle_after",
    [
        (8, 2, None, 100.0, 5, None),  # up by at most `step`
        (0, 0, None, 100.0, 1, None),  # never below min
        (50, 9, None, 100.0, 10, None),  # never above max
        (2, 5, None, 100.0, 5, 100.0),  # demand fell: wait, and remember since when
        (2, 5, 50.0, 100.0, 5, 50.0),  # not idle for long enough yet
        (2, 5, 30.0, 100.0, 2, 30.0),  # idle for 70 s of 60: down to the demand
        (5, 5, 30.0, 100.0, 5, None),  # demand back: the idle time starts over
    ],
)
def test_autoscale_follows_demand_within_its_bounds(demand, live, idle_since, now, target, idle_after) -> None:
    step = autoscale_step(SCALE, demand, live, idle_since, now)
    assert (step.target, step.idle_since) == (target, idle_after)
    assert step.reason.startswith(f"demand {demand} workers, target {target} (min 1, max 10)")


def test_a_shrink_removes_intents_then_queued_then_the_youngest_running() -> None:
    old, young, queued, intent = pilot(0, started_ago=500), pilot(1, started_ago=5), pilot(2, PilotState.QUEUED, None, 1), pilot(3, PilotState.INTENT, None, 1)
    assert shrink_order([old, young, queued, intent], [intent]) == [intent, queued, young, old]


@pytest.mark.parametrize("previous,seconds", [(None, 30.0), (30.0, 60.0), (960.0, 1800.0), (1800.0, 1800.0)])
def test_a_failing_allocation_waits_longer_each_time_up_to_half_an_hour(previous, seconds) -> None:
    before = Backoff(0.0, previous, "old") if previous else None
    backoff = next_backoff(before, "sbatch: error", 1000.0)
    assert (backoff.seconds, backoff.until, backoff.error) == (seconds, 1000.0 + seconds, "sbatch: error")


def failed(index: int, allocation: str = "local", ran: float = 1, reason: str = "exit 1: pip: no such option --index-url") -> Pilot:
    made = pilot(index, PilotState.FAILED, PilotStage.BUILDING, started_ago=ran)
    made.allocation, made.ended_at, made.reason = allocation, time.time(), reason
    return made


@pytest.mark.parametrize(
    ("before", "pilots", "waits", "cluster_fails"),
    [
        ({}, [failed(1)], {"local": 5}, False),
        ({"local": StartFailures(1, "x")}, [failed(2)], {"local": 10}, False),
        ({"local": StartFailures(3, "x")}, [failed(4)], {"local": 40}, False),
        ({"local": StartFailures(MAX_START_FAILURES - 1, "x")}, [failed(5)], {"local": float("inf")}, True),
        ({}, [failed(i) for i in range(MAX_START_FAILURES)], {"local": float("inf")}, True),
        ({}, [failed(1, ran=3600)], {}, False),
        ({"local": StartFailures(3, "x")}, [pilot(1, stage=PilotStage.WORKER_JOINED)], {}, False),
        ({"hpc": StartFailures(MAX_START_FAILURES - 1, "x")}, [failed(1, "hpc")], {"hpc": float("inf")}, False),
        ({"local": StartFailures(MAX_START_FAILURES, "x")}, [failed(1, "hpc")], {"hpc": 5}, False),
    ],
    ids=["first", "second doubles", "fourth", "fifth stops", "a batch at once", "a long run is no start failure", "a join clears", "another allocation still works", "one stopped, one failing"],
)
def test_pilots_failing_at_start_back_off_then_stop(before, pilots, waits, cluster_fails) -> None:
    """The cluster here draws on `local` alone, or on `local` and `hpc` when `hpc` appears."""
    uses_hpc = "hpc" in before or any(p.allocation == "hpc" for p in pilots)
    verdict = start_verdict(before, pilots, ["local", "hpc"] if uses_hpc else ["local"], 1000.0)
    assert {name: backoff.seconds for name, backoff in verdict.backoffs.items()} == waits
    for backoff in verdict.backoffs.values():
        wait = "" if backoff.seconds == float("inf") else f"; retrying in {int(backoff.seconds)} s"
        assert backoff.said == backoff.error + wait
    assert (verdict.cluster_failure is not None) == cluster_fails
    if cluster_fails:
        assert verdict.cluster_failure == "pilots on local fail at start: exit 1: pip: no such option --index-url"
    if pilots[0].stage is PilotStage.WORKER_JOINED:
        assert verdict.tally == {}


def test_conditions_say_what_the_cluster_is_doing() -> None:
    cluster = cluster_model(count=3)
    joined = pilot(0, stage=PilotStage.WORKER_JOINED)
    draining = pilot(1, PilotState.DRAINING)
    now = time.time()
    backoffs = {"lab": Backoff(now + 30, 30, "sbatch: error: invalid partition"), "old": Backoff(now - 1, 30, "gone")}
    conditions = {(c.kind, c.allocation): c.reason for c in cluster_conditions(cluster, [joined, draining], 3, backoffs, "", now)}
    assert conditions == {
        (ClusterCondition.BACKED_OFF, "lab"): "sbatch: error: invalid partition",
        (ClusterCondition.DRAINING, None): "draining 1 worker",
        (ClusterCondition.SCALING_UP, None): "1 of 3 workers joined",
    }
    cluster.expires_at = now + 60
    at_target = cluster_conditions(cluster, [joined], 1, {}, "", now)
    assert [(c.kind, c.reason) for c in at_target] == [(ClusterCondition.AT_TARGET, "1 worker joined"), (ClusterCondition.EXPIRING, "expires within the hour")]


@pytest.mark.parametrize(
    "stage,in_manager,after",
    [
        (PilotStage.WORKER_STARTED, True, PilotStage.WORKER_JOINED),
        (PilotStage.WORKER_JOINED, False, PilotStage.WORKER_STARTED),
        (PilotStage.READY, False, PilotStage.READY),
    ],
)
def test_the_managers_word_sets_the_joined_stage(stage, in_manager, after) -> None:
    one = pilot(0, stage=stage)
    assert joined_stage(one, {one.tag} if in_manager else set()) is after


async def test_worker_that_never_joined_is_flagged_once(home, engine: Engine) -> None:
    cluster = cluster_model(count=2)
    cluster.head = Head(address="tcp://127.0.0.1:1")
    changes = Changes(engine.bus)
    tracker = PilotTracker(engine.sites, EmptyManager(), changes)
    late, fresh = pilot(0, started_ago=JOIN_GRACE + 60), pilot(1)
    await tracker.mark_joined(cluster, [late, fresh])
    assert late.reason.startswith("worker has not joined the manager") and "worker.log" in late.reason
    assert fresh.reason == ""
    assert [e.kind for e in changes.writes.events] == ["pilot"]
    await tracker.mark_joined(cluster, [late, fresh])
    assert len(changes.writes.events) == 1, "said once, not every cycle"


class HoldingManager(EmptyManager):
    """A manager whose answers about held work are given in turn (an exception: no answer)."""

    def __init__(self, answers: list) -> None:
        self.answers = answers

    async def held(self, executor, cluster):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_held_work_is_said_when_it_changes_and_a_silent_manager_once(home, engine: Engine) -> None:
    cluster = cluster_model(count=2)
    cluster.head = Head(address="tcp://127.0.0.1:1")
    changes = Changes(engine.bus)
    down = OSError("the head does not answer")
    held = ["1 job held (7.0): over the disk quota"]
    tracker = PilotTracker(engine.sites, HoldingManager([held, held, down, down, [], []]), changes)
    seen = [await tracker.ask_held(cluster) for _ in range(6)]
    assert seen == [tuple(held)] * 4 + [()] * 2, "no answer: the last one stands"
    assert [e.message for e in changes.writes.events] == [
        "the dask manager holds: 1 job held (7.0): over the disk quota",
        "could not ask the dask manager what it holds: the head does not answer",
        "nothing held any more",
    ]

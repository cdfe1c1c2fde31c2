"""Factory rules that need no site: workers that never join are flagged, and who is removed first.

The manager here is a test double of the Middleware protocol that reports no workers (a real
manager that never sees a worker takes 5 minutes to flag); everything else is the real factory.
"""

from __future__ import annotations

import time

from vc3tui.engine.factory import JOIN_GRACE, Factory
from vc3tui.engine.middleware.plain import PlainCommand
from vc3tui.engine.models import Head, Pilot, pilot_tag
from vc3tui.engine.states import ClusterCondition, PilotStage, PilotState

from tests.factories import cluster as cluster_model


class EmptyManager(PlainCommand):
    """A manager that answers, and has seen no worker."""

    has_manager = True

    async def workers(self, executor, head):
        return []


class HeadSite:
    executor = None


class EngineWithHead:
    def head_site(self, cluster):
        return HeadSite()


def running_pilot(index: int, started_ago: float) -> Pilot:
    pilot = Pilot(cluster_id="0123abcd", allocation="a", index=index, tag=pilot_tag("feedfacecafe", "0123abcd", index))
    pilot.state, pilot.stage, pilot.started_at = PilotState.RUNNING, PilotStage.WORKER_STARTED, time.time() - started_ago
    return pilot


async def test_worker_that_never_joined_is_flagged_once() -> None:
    cluster = cluster_model(count=2)
    cluster.head = Head(address="tcp://127.0.0.1:1")
    factory = Factory(EngineWithHead(), cluster.id, EmptyManager())
    late, fresh = running_pilot(0, JOIN_GRACE + 60), running_pilot(1, 10)
    await factory._mark_joined(cluster, [late, fresh])
    assert late.reason.startswith("worker has not joined the manager") and "worker.log" in late.reason
    assert fresh.reason == ""
    assert [e.kind for e in factory.writes.events] == ["pilot"]
    await factory._mark_joined(cluster, [late, fresh])
    assert len(factory.writes.events) == 1, "said once, not every cycle"


def test_conditions_say_what_the_cluster_is_doing() -> None:
    cluster = cluster_model(count=3)
    factory = Factory(EngineWithHead(), cluster.id, PlainCommand())
    joined = running_pilot(0, 10)
    joined.stage = PilotStage.WORKER_JOINED
    draining = running_pilot(1, 10)
    draining.state = PilotState.DRAINING
    factory._conditions(cluster, [joined, draining], 3)
    kinds = {c.kind: c.reason for c in cluster.conditions}
    assert kinds[ClusterCondition.SCALING_UP] == "1 of 3 workers joined"
    assert kinds[ClusterCondition.DRAINING] == "draining 1 worker"

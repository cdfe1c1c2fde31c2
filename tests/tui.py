"""What the app tests share: a store with fixed clusters, pilots and events (times fixed too, so
snapshots do not drift), and waiting until a view has shown the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from tests.factories import cluster
from vc3tui.app import VC3App
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Condition, Event
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterCondition, ClusterState, PilotStage, PilotState
from vc3tui.engine.store import CycleWrites, Store

S = TypeVar("S", bound=Screen)
EVENT_TIME = 1764064800.0
"""2025-11-25 10:00:00 UTC: events carry this time and the next seconds."""


def fixture_clusters(dirs: Dirs) -> None:
    """physics (Dask, running, 4 pilots in four stages) and biology (failed on a bad partition)."""
    store = Store(dirs.database)
    running = cluster("aaaaaaaa", "physics", count=3)
    running.state, running.reason = ClusterState.RUNNING, "requesting [3] workers"
    running.conditions = [Condition(kind=ClusterCondition.SCALING_UP, reason="1 pilot queued")]
    store.put_cluster(running)
    pilots = store.add_pilot_intents(running.id, "local", 4)
    shapes = (
        (PilotState.RUNNING, PilotStage.WORKER_JOINED, "", "101"),
        (PilotState.RUNNING, PilotStage.BUILDING, "", "102"),
        (PilotState.QUEUED, None, "Priority", "103"),
        (PilotState.FAILED, PilotStage.BUILDING, "exited with status 1: [red]not markup[/]", "104"),
    )
    for pilot, (state, stage, reason, job) in zip(pilots, shapes):
        pilot.move(PilotState.QUEUED)
        if state is not PilotState.QUEUED:
            pilot.move(PilotState.RUNNING)
        if state is PilotState.FAILED:
            pilot.move(state, reason)
        pilot.stage, pilot.job_id, pilot.reason = stage, job, reason
    events = [
        Event(cluster_id=running.id, kind="state", message="new: launching physics with 3 workers", at=EVENT_TIME),
        Event(cluster_id=running.id, kind="scale", message="requesting 4 more workers (target 3)", at=EVENT_TIME + 2),
        Event(cluster_id=running.id, kind="pilot", message="pilot 3 failed: exited with status 1", at=EVENT_TIME + 9),
    ]
    store.commit_cycle(CycleWrites(pilots=pilots, events=events))
    failed = cluster("bbbbbbbb", "biology", count=1)
    failed.state, failed.reason = ClusterState.FAILED, "allocation midway: sbatch: error: invalid partition"
    store.put_cluster(failed)
    store.close()


async def shown(pilot: Pilot, runs: int = 1, timeout: float = 10) -> None:
    """Until the current view has loaded from the store `runs` times."""
    deadline = time.monotonic() + timeout
    while getattr(pilot.app.screen, "coalescer", None) is None or pilot.app.screen.coalescer.runs < runs:
        if time.monotonic() > deadline:
            raise AssertionError(f"{pilot.app.screen} did not load in {timeout} s")
        await asyncio.sleep(0.02)
    await pilot.pause()


@asynccontextmanager
async def running_app(dirs: Dirs, size: tuple[int, int] = (120, 30), *, watch_store: bool = False) -> AsyncIterator[Pilot]:
    """The app on its own engine over `dirs`, driven by a Pilot; the engine is closed afterwards."""
    engine = Engine(dirs)
    try:
        async with VC3App(engine, watch_store=watch_store).run_test(size=size) as pilot:
            yield pilot
    finally:
        await engine.close()


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
"""Every view's snapshots are taken at both sizes."""


@contextmanager
def snapshot_app(dirs: Dirs) -> Iterator[VC3App]:
    """An app for snap_compare (which runs it in its own loop); its engine is closed afterwards."""
    engine = Engine(dirs)
    try:
        yield VC3App(engine, watch_store=False)
    finally:
        asyncio.run(engine.close())


async def pressed(pilot: Pilot, *keys: str, opens: type[S]) -> S:
    """Press `keys` as a person would; the view they open, which must be an `opens`."""
    await pilot.press(*keys)
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, opens), f"{keys} opened {screen!r}, not a {opens.__name__}"
    return screen

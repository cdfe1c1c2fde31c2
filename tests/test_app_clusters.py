"""The app opens on the Clusters view and shows the store's clusters with state and counts."""

from __future__ import annotations

from textual.widgets import DataTable

from vc3tui.app import VC3App
from vc3tui.engine.engine import Engine
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState, PilotState
from vc3tui.engine.store import CycleWrites, Store

from tests.factories import cluster


def fixture_clusters(dirs: Dirs) -> None:
    store = Store(dirs.database)
    running = cluster("aaaaaaaa", "physics", count=3)
    running.state, running.reason = ClusterState.RUNNING, "requesting [3] workers"
    store.put_cluster(running)
    pilots = store.add_pilot_intents(running.id, "local", 4)
    for pilot, state in zip(pilots, (PilotState.RUNNING, PilotState.RUNNING, PilotState.QUEUED, PilotState.FAILED)):
        pilot.move(state)
    store.commit_cycle(CycleWrites(pilots=pilots))
    failed = cluster("bbbbbbbb", "biology", count=1)
    failed.state, failed.reason = ClusterState.FAILED, "allocation midway: sbatch: error: invalid partition"
    store.put_cluster(failed)
    store.close()


async def test_clusters_view_lists_fixture_clusters(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    engine = Engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert app.current_mode == "clusters"
        assert table.row_count == 2
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(2)}
        assert rows["physics"][1:3] == ["running", "requesting [3] workers"]
        assert rows["physics"][3:8] == ["dask", "3", "2", "1", "1"]
        assert rows["biology"][1] == "failed"
        assert "invalid partition" in rows["biology"][2]
        assert not app.screen.query_one("#empty").display
        await pilot.press("ctrl+q")
    await engine.close()


async def test_empty_store_shows_the_next_step(dirs: Dirs) -> None:
    engine = Engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("#empty").display
        assert not app.screen.query_one(DataTable).display
    await engine.close()

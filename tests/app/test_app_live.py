"""The app driving a real local cluster (pilots are real processes): resize with the keys,
terminate, and the quit dialog's three choices, checked on the screen, the store and the processes."""

from __future__ import annotations

from collections.abc import Callable

import os

import pytest
from textual.widgets import DataTable

from tests.processes import alive
from tests.tui import shown
from tests.waiting import wait_until_async, wait_until_awaited
from vc3tui.app import VC3App
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.software import DASK_PIP
from vc3tui.engine.states import ClusterState, PilotState
from vc3tui.engine.store import Store
from vc3tui.screens.cluster import ClusterScreen
from vc3tui.screens.quit import QuitChoice, QuitScreen

pytestmark = pytest.mark.timeout(180)


def sleepers(count: int = 2) -> Blueprint:
    return Blueprint(
        name="sleepers",
        middleware=MiddlewareKind.NONE,
        workers=WorkerSpec(count=count, walltime=1800, command=["sleep", "600"]),
        allocations=[AllocationUse(name="local")],
    )


def running_groups(engine_pilots) -> list[int]:
    return [int(p.job_id) for p in engine_pilots if p.state is PilotState.RUNNING and p.job_id and alive(int(p.job_id))]


async def test_resize_and_terminate_a_local_cluster_with_the_keys(cluster_home, dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(120, 36)) as pilot:
        cluster = await engine.launch(sleepers(2))
        await shown(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)

        async def running(n: int):
            pilots = await engine.pilots(cluster.id)
            table = app.screen.query_one("#pilots", DataTable)
            on_screen = sum(1 for i in range(table.row_count) if str(table.get_row_at(i)[3]) == "worker joined" or str(table.get_row_at(i)[3]) == "ready")
            return len(running_groups(pilots)) == n and on_screen == n

        await wait_until_awaited(lambda: running(2), 60, "2 pilots running and shown")
        await pilot.press("plus")
        await wait_until_awaited(lambda: running(3), 60, "3 pilots after +")
        await pilot.press("minus", "p")  # the shrink at once: p turns peaceful off first
        await wait_until_awaited(lambda: running(2), 60, "2 pilots after -")
        groups = running_groups(await engine.pilots(cluster.id))
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("tab", "enter")
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 60)
        assert row.cluster.state is ClusterState.TERMINATED
        await wait_until_async(lambda: not any(alive(g) for g in groups), 30, "the pilot processes to end")
        await pilot.pause(0.5)
        assert "terminated" in str(app.screen.query_one("#facts").render())


async def quit_with(choice: QuitChoice, dirs: Dirs):
    """Launch in the app, quit choosing `choice`; returns (cluster id, pilot process groups)."""
    engine = Engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(120, 36)) as pilot:
        cluster = await engine.launch(sleepers(2))
        await wait_until_async(lambda: len(running_groups_sync(dirs, cluster.id)) == 2, 60, "2 pilots")
        groups = running_groups_sync(dirs, cluster.id)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.click(f"#{choice.value}")
        quitting = [worker for worker in app.workers if worker.group == "quit"]
        await wait_until_async(lambda: not any(worker.is_running for worker in quitting), 30, "the app to finish quitting")
    await engine.close()
    return cluster.id, groups


def running_groups_sync(dirs: Dirs, cluster_id: str) -> list[int]:
    store = Store(dirs.database)
    try:
        return running_groups(store.pilots(cluster_id))
    finally:
        store.close()


def lease_holder(dirs: Dirs, cluster_id: str) -> str | None:
    store = Store(dirs.database)
    try:
        return store.lease_holder(cluster_id)
    finally:
        store.close()


async def finish(dirs: Dirs, cluster_id: str, new_engine: Callable[..., Engine]) -> None:
    """Terminate at once from a fresh engine (as `vc3tui cluster terminate` would) and wait."""
    engine = new_engine(dirs, interactive=False)
    await engine.terminate(cluster_id, peaceful=False)
    await engine.manage(cluster_id)
    await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 90)


async def test_quit_leaving_the_cluster_running_unmanaged(cluster_home, dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    cluster_id, groups = await quit_with(QuitChoice.KEEP, dirs)
    assert all(alive(g) for g in groups), "the pilots keep running"
    assert lease_holder(dirs, cluster_id) is None, "nobody manages it now"
    await finish(dirs, cluster_id, new_engine)
    assert not any(alive(g) for g in groups)


async def test_quit_handing_the_cluster_to_a_background_process(cluster_home, dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    cluster_id, groups = await quit_with(QuitChoice.HAND_OFF, dirs)
    holder = await wait_until_async(lambda: lease_holder(dirs, cluster_id), 60, "the background process to take the lease")
    assert holder.rpartition(":")[2] != str(os.getpid())
    manager_pid = int(holder.rpartition(":")[2])
    assert all(alive(g) for g in groups)
    log = dirs.data / "manage-sleepers.log"  # it says so just after taking the lease
    said = "cluster sleepers: managed by this process"
    await wait_until_async(lambda: log.exists() and said in log.read_text(), 30, "the background process to say it manages the cluster")
    engine = new_engine(dirs, interactive=False)
    await engine.resize(cluster_id, 3)
    await wait_until_async(lambda: len(running_groups_sync(dirs, cluster_id)) == 3, 60, "the background process to add a pilot")
    await engine.terminate(cluster_id, peaceful=False)
    await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 90)
    await engine.close()
    await wait_until_async(lambda: not alive(manager_pid), 30, "the background process to exit")
    assert not any(alive(g) for g in groups)


async def test_quit_terminating_the_cluster(cluster_home, dirs: Dirs) -> None:
    cluster_id, groups = await quit_with(QuitChoice.TERMINATE, dirs)

    async def terminated():
        store = Store(dirs.database)
        try:
            return store.cluster(cluster_id).state is ClusterState.TERMINATED
        finally:
            store.close()

    await wait_until_awaited(terminated, 90, "the background teardown")
    await wait_until_async(lambda: not any(alive(g) for g in groups), 30, "the pilots to end")


async def test_the_launch_form_launches_a_local_cluster_and_saves_its_blueprint(cluster_home, dirs: Dirs, tmp_path, new_engine: Callable[..., Engine]) -> None:
    from textual.widgets import Input, Select

    from vc3tui.engine.blueprint import load_blueprint
    from vc3tui.screens.launch import LaunchScreen

    engine = new_engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot)
        await pilot.press("n")
        await wait_until_async(lambda: isinstance(app.screen, LaunchScreen), 10, "the launch form")
        form = app.screen
        name = form.query_one("#name", Input)
        await wait_until_async(lambda: app.focused is name, 10, "the name field focused")  # keys pressed before go elsewhere
        await pilot.press(*"two words", "ctrl+l")
        await pilot.pause()
        assert "name: 'two words' is not a valid name; use 1-64 of A-Z a-z 0-9 _ -" in str(form.query_one("#problems").render())
        name.value = ""
        await pilot.press(*"formed")
        form.query_one("#middleware", Select).value = "none"
        form.query_one("#workers", Input).value = "2"
        form.query_one("#worker_command", Input).value = "sleep 600"
        form.query_one("#path", Input).value = str(tmp_path / "formed.toml")
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = load_blueprint(tmp_path / "formed.toml", allocations={"local"})
        assert (saved.name, saved.middleware.value, saved.workers.count, saved.workers.command) == ("formed", "none", 2, ["sleep", "600"])
        await pilot.press("ctrl+l")
        await wait_until_async(lambda: not isinstance(app.screen, LaunchScreen), 30, "the form to close")
        cluster = await engine.live_cluster("formed")
        assert engine.manages(cluster.id)
        await wait_until_async(lambda: len(running_groups_sync(dirs, cluster.id)) == 2, 60, "2 pilots from the form")
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 60)


async def test_the_launch_forms_defaults_launch_a_working_cluster(cluster_home, dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    """`n`, a name, ctrl+l: Dask with no environment on `local`, whose middleware brings its software."""
    from vc3tui.screens.launch import LaunchScreen

    engine = new_engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(120, 36)) as pilot:
        await shown(pilot)
        await pilot.press("n")
        await wait_until_async(lambda: isinstance(app.screen, LaunchScreen) and getattr(app.screen.focused, "id", None) == "name", 10, "the form's name field focused")
        await pilot.press(*"first", "ctrl+l")
        cluster = await wait_until_awaited(lambda: engine.live_cluster("first"), 10, "the cluster launched")
        row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 1 or r.cluster.state is ClusterState.FAILED, 150)
        assert row.counts.joined == 1, row.cluster.reason
        assert cluster.blueprint.middleware is MiddlewareKind.DASK and cluster.blueprint.environment.pip == [DASK_PIP]
        events = [e.message for e in await engine.cluster_events(cluster.id)]
        assert any(m.startswith("software on this machine: ") and DASK_PIP in m for m in events), events
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 60)

"""The clusters view and the cluster view on fixed store data: rows, keys, filter, dialogs."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest
from textual.widgets import DataTable, Input

from tests import ROOT
from tests.tui import fixture_clusters, running_app, shown
from tests.waiting import wait_until_async
from vc3tui.app import VC3App
from vc3tui.cli import tui_app
from vc3tui.engine.engine import Engine
from vc3tui.engine.paths import Dirs
from vc3tui.engine.store import Store
from vc3tui.screens.cluster import ClusterScreen
from vc3tui.screens.confirm import ConfirmScreen
from vc3tui.screens.count import CountScreen
from vc3tui.screens.keys import KeysScreen

pytestmark = pytest.mark.timeout(60)


async def select(pilot, name: str) -> None:
    """Move the cursor to the cluster called `name` with the arrow keys, as a person would."""
    for _ in range(20):
        if pilot.app.screen.selected_cluster().name == name:
            return
        await pilot.press("down")
    raise AssertionError(f"no row {name}")


def table_rows(table: DataTable) -> dict[str, list[str]]:
    return {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}


async def test_clusters_view_lists_fixture_clusters(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (120, 30)) as pilot:
        app = pilot.app
        await shown(pilot)
        rows = table_rows(app.screen.query_one(DataTable))
        assert app.current_mode == "clusters" and set(rows) == {"physics", "biology"}
        assert rows["physics"][1:3] == ["running", "scaling_up: 1 pilot queued"]
        assert rows["physics"][3:8] == ["dask", "3", "2", "1", "1"]
        assert rows["biology"][1] == "failed" and "invalid partition" in rows["biology"][2]
        assert not app.screen.query_one("#empty").display


async def test_empty_store_shows_the_next_step(dirs: Dirs) -> None:
    async with running_app(dirs, (80, 24)) as pilot:
        app = pilot.app
        await shown(pilot)
        assert app.screen.query_one("#empty").display
        assert not app.screen.query_one(DataTable).display


async def test_the_command_lines_app_collects_no_garbage_until_its_first_frame(dirs: Dirs) -> None:
    app = tui_app(watch_store=False)
    try:
        assert not gc.isenabled(), "a cold start makes objects that live as long as the app"
        async with app.run_test(size=(80, 24)) as pilot:
            await shown(pilot)
            assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
        await app.engine.close()


async def test_filter_enter_and_escape(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (120, 30)) as pilot:
        app = pilot.app
        await shown(pilot)
        await pilot.press("slash", *"bio")
        assert app.screen.query_one("#filter", Input).has_focus
        assert set(table_rows(app.screen.query_one(DataTable))) == {"biology"}
        await pilot.press("escape")
        assert set(table_rows(app.screen.query_one(DataTable))) == {"physics", "biology"}
        assert app.screen.selected_cluster().name == "biology", "the selection outlives the filter"
        await select(pilot, "physics")
        await pilot.press("enter")
        await shown(pilot)
        assert isinstance(app.screen, ClusterScreen) and app.screen.cluster.name == "physics"
        pilots = table_rows(app.screen.query_one("#pilots", DataTable))
        assert [row[3] for row in pilots.values()] == ["worker joined", "building", "queued", "failed"]
        assert pilots["3"][5] == "exited with status 1: [red]not markup[/]"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "ClustersScreen"


async def test_resize_keys_write_the_store_and_terminate_asks_first(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (120, 30)) as pilot:
        app, engine = pilot.app, pilot.app.engine
        await shown(pilot)
        await select(pilot, "physics")
        await pilot.press("plus", "plus", "minus")
        assert (await engine.status("aaaaaaaa")).cluster.requested == 4
        await pilot.press("p")
        assert (await engine.status("aaaaaaaa")).cluster.peaceful is False
        await pilot.press("equals_sign")
        assert isinstance(app.screen, CountScreen)
        await pilot.press("ctrl+a", "ctrl+k", "x", "enter")
        assert "a whole number" in str(app.screen.query_one("#problem").render())
        await pilot.press("backspace", "7", "enter")
        await pilot.pause()
        assert (await engine.status("aaaaaaaa")).cluster.requested == 7
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause()
        assert not (await engine.status("aaaaaaaa")).cluster.terminate_requested
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("tab", "enter")
        await pilot.pause()
        assert (await engine.status("aaaaaaaa")).cluster.terminate_requested


async def test_question_mark_lists_the_views_keys_and_colon_jumps(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (120, 40)) as pilot:
        app = pilot.app
        await shown(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysScreen)
        described = dict(app.screen.keys)
        assert described["+"] == "+1 worker" and described["^d"] == "Terminate" and described["/"] == "Filter"
        assert list(described)[:3] == ["/", "esc", "n"]  # the view's own keys first
        await pilot.press("escape", "colon", *"clu", "enter")
        await pilot.pause()
        assert app.current_mode == "clusters" and app.screen.__class__.__name__ == "ClustersScreen"
        await pilot.press("colon", *"zzz", "enter")
        await pilot.pause()
        assert "no single view starts with 'zzz'" in str(app.screen.query_one("#problem").render())


async def test_a_burst_of_engine_events_costs_at_most_one_refresh_per_cycle(dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    """10,000 pilots, 30 engine cycles of events arriving in a burst: the view reloads at most once
    per cycle (and here far fewer), counted, not timed."""
    fixture_clusters(dirs)
    store = Store(dirs.database)
    store.add_pilot_intents("aaaaaaaa", "local", 10_000)
    store.close()
    engine = new_engine(dirs)
    app = VC3App(engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await shown(pilot)
        await select(pilot, "physics")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ClusterScreen)
        await shown(pilot)
        screen = app.screen
        assert screen.query_one("#pilots", DataTable).row_count == 10_004
        before = screen.coalescer.runs
        from vc3tui.engine.models import Event
        from vc3tui.engine.store import CycleWrites

        cycles = 30
        for n in range(cycles):
            await engine.bus.commit(CycleWrites(events=[Event(cluster_id="aaaaaaaa", kind="scale", message=f"cycle {n}.{k}") for k in range(5)]))
        await pilot.pause(0.5)
        await shown(pilot, runs=before + 1)
        refreshes = screen.coalescer.runs - before
        assert 1 <= refreshes <= cycles
        assert "cycle 29.4" in "\n".join(screen.query_one("#events").lines)


async def test_a_theme_picked_from_the_palette_is_remembered(dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(dirs)
    app = VC3App(engine, watch_store=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await shown(pilot)
        assert app.theme == "vc3-dark"
        await pilot.press("ctrl+p", *"theme", "enter")
        await pilot.pause(0.3)
        await pilot.press(*"vc3-high", "enter")
        await pilot.pause(0.3)
        assert app.theme == "vc3-high-contrast"
    assert 'theme = "vc3-high-contrast"' in (dirs.config / "settings.toml").read_text()
    again = VC3App(engine, watch_store=False)
    async with again.run_test(size=(80, 24)) as pilot:
        assert again.theme == "vc3-high-contrast"


async def test_an_engine_question_is_a_dialog_whose_answer_goes_back(dirs: Dirs) -> None:
    from vc3tui.engine.questions import NoAnswer, QuestionKind
    from vc3tui.screens.question import QuestionScreen

    async with running_app(dirs, (100, 30)) as pilot:
        app, engine = pilot.app, pilot.app.engine
        await shown(pilot)
        asked = asyncio.create_task(engine.questions.ask(QuestionKind.PASSWORD, "Password:", about="alice@login.example.edu"))
        await pilot.pause(0.2)
        assert isinstance(app.screen, QuestionScreen) and app.screen.query_one("#answer").password
        await pilot.press(*"s3cret", "enter")
        assert await asyncio.wait_for(asked, 5) == "s3cret"
        trusted = asyncio.create_task(engine.questions.ask(QuestionKind.HOST_KEY, "Trust this host key?", detail="ssh-ed25519 SHA256:abc"))
        await pilot.pause(0.2)
        assert app.screen.focused.id == "cancel"
        await pilot.press("enter")
        with pytest.raises(NoAnswer):
            await asyncio.wait_for(trusted, 5)


async def test_the_launch_form_loads_a_blueprint_file(dirs: Dirs) -> None:
    from textual.widgets import Select, SelectionList

    from vc3tui.screens.launch import LaunchScreen

    example = ROOT / "examples" / "local-dask.toml"
    async with running_app(dirs, (120, 40)) as pilot:
        app = pilot.app
        await shown(pilot)
        await pilot.press("n")
        for _ in range(100):
            if isinstance(app.screen, LaunchScreen):
                break
            await pilot.pause(0.05)
        form = app.screen
        form.query_one("#source", Input).value = "/nonexistent/bp.toml"
        await wait_until_async(lambda: form.query_one("#load").region.area, 10, "the form laid out")
        await pilot.click("#load")
        await wait_until_async(lambda: "/nonexistent/bp.toml" in str(form.query_one("#problems").render()), 10, "the load problem")
        form.query_one("#source", Input).value = str(example)
        # a button ignores clicks while it still shows the last one (as it would a person's)
        await wait_until_async(lambda: not form.query_one("#load").has_class("-active"), 10, "the Load button to be released")
        await pilot.wait_for_scheduled_animations()  # the problem shown scrolled the form: click where the button is then
        await pilot.click("#load")
        await wait_until_async(lambda: form.query_one("#name", Input).value == "local-dask", 10, "the loaded blueprint")
        assert form.query_one("#name", Input).value == "local-dask" and form.query_one("#workers", Input).value == "2"
        assert form.query_one("#middleware", Select).value == "dask" and form.query_one("#walltime", Input).value == "30m"
        assert list(form.query_one("#allocations", SelectionList).selected) == ["local"]
        assert (await form.blueprint()).environment.pip == []
        assert str(form.query_one("#software").render()) == "dask[distributed]==2026.8.0 (pip, for dask)"


async def test_slash_filters_the_pilots_of_a_cluster(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (120, 30)) as pilot:
        app = pilot.app
        await shown(pilot)
        await select(pilot, "physics")
        await pilot.press("enter")
        await pilot.pause()
        await shown(pilot)
        table = app.screen.query_one("#pilots", DataTable)
        await pilot.press("slash", *"build")
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["1"]
        await pilot.press("escape")
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["0", "1", "2", "3"]
        assert isinstance(app.screen, ClusterScreen), "the first esc clears the filter"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "ClustersScreen", "the second goes back"

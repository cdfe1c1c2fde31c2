"""The resources view: the catalog as a table, and adding, editing and removing user resources
through the form (saved in resources.toml, read back by the catalog)."""

from __future__ import annotations


import pytest
from textual.widgets import DataTable, Input, Select

from tests.tui import SIZES, pressed, running_app, snapshot_app
from vc3tui.engine import catalog as catalog_module
from vc3tui.engine.models import BatchKind, NodeShape, Resource
from vc3tui.engine.paths import Dirs
from vc3tui.screens.confirm import ConfirmScreen
from vc3tui.screens.resource_form import ResourceFormScreen
from vc3tui.screens.resources import ResourcesScreen

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def fixed_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """`local` is measured at each start; here it is fixed, so rows and snapshots do not vary by machine."""
    fixed = Resource(name="local", display_name="This machine", organization="you", batch=BatchKind.FORK,
                     node=NodeShape(cores=8, memory_mb=16000, disk_mb=100000), native_os="debian:12")  # fmt: skip
    monkeypatch.setattr(catalog_module, "local_resource", lambda scratch=None: fixed)


async def opened(pilot) -> ResourcesScreen:
    return await pressed(pilot, "colon", *"resources", "enter", opens=ResourcesScreen)


def names(screen) -> list[str]:
    table = screen.query_one(DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def test_the_catalog_is_listed_and_filtered(dirs: Dirs) -> None:
    async with running_app(dirs, (140, 40)) as pilot:
        engine = pilot.app.engine
        screen = await opened(pilot)
        assert names(screen)[0] == "local" and {"perlmutter", "stampede3", "ospool"} <= set(names(screen))
        assert not {"cori", "stampede2"} & set(names(screen)), "retired sites are behind `a`"
        await pilot.press("a")
        assert {"cori", "stampede2", "perlmutter"} <= set(names(screen))
        await pilot.press("a")
        assert "cori" not in names(screen)
        local = [str(cell) for cell in screen.query_one(DataTable).get_row_at(0)]
        assert local[2:6] == ["8", "16 GB", "100 GB", "debian:12"] and local[7:] == ["fork", "measured"]
        await pilot.press("slash", *"condor")
        assert names(screen) and all(engine.catalog.get(name).batch is BatchKind.CONDOR for name in names(screen))


async def test_add_edit_and_remove_a_resource_through_the_form(dirs: Dirs) -> None:
    async with running_app(dirs, (140, 40)) as pilot:
        engine = pilot.app.engine
        screen = await opened(pilot)
        form = await pressed(pilot, "n", opens=ResourceFormScreen)
        await pilot.press(*"mylab")
        form.query_one("#login_hosts", Input).value = "login.mylab.edu"
        form.query_one("#port", Input).value = "two"
        await pilot.press("ctrl+s")
        assert "port: expected a whole number, got 'two'" in str(form.query_one("#problems").render())
        form.query_one("#port", Input).value = "2222"
        form.query_one("#partition", Input).value = "debug; rm -rf /"
        await pilot.press("ctrl+s")
        assert "partition: " in str(form.query_one("#problems").render()) and isinstance(pilot.app.screen, ResourceFormScreen)
        form.query_one("#partition", Input).value = "debug"
        form.query_one("#batch", Select).value = "pbs"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert pilot.app.screen is screen and "mylab" in names(screen)
        saved = engine.catalog.get("mylab")
        assert (saved.login_hosts, saved.port, saved.batch, saved.partition) == (["login.mylab.edu"], 2222, BatchKind.PBS, "debug")
        assert 'login_hosts = ["login.mylab.edu"]' in dirs.user_resources.read_text()

        for _ in range(30):
            if screen.selected().name == "mylab":
                break
            await pilot.press("down")
        await pilot.press("e")
        await pilot.pause()
        edit = pilot.app.screen
        assert edit.query_one("#name", Input).value == "mylab" and edit.query_one("#port", Input).value == "2222"
        edit.query_one("#cores", Input).value = "48"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert engine.catalog.get("mylab").node.cores == 48

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await pilot.press("tab", "enter")
        await pilot.pause()
        assert "mylab" not in names(screen) and engine.catalog.get("mylab") is None


async def test_a_broken_resources_file_is_named_not_a_crash(dirs: Dirs) -> None:
    dirs.user_resources.write_text("[resources.bad]\nbatch = 7\n")
    async with running_app(dirs, (140, 40)) as pilot:
        app = pilot.app
        screen = await opened(pilot)
        assert names(screen) == []
        messages = [n.message for n in app._notifications]
        assert any(str(dirs.user_resources) in m and "batch" in m for m in messages), messages


@pytest.mark.parametrize("size", SIZES)
def test_resources_view_snapshot(dirs: Dirs, snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await opened(pilot)

    with snapshot_app(dirs) as app:
        assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_resource_form_snapshot(dirs: Dirs, snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await opened(pilot)
        await pilot.press("n", *"my lab", "ctrl+s")
        await pilot.pause()

    with snapshot_app(dirs) as app:
        assert snap_compare(app, terminal_size=size, run_before=run_before)

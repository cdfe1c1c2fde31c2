"""The projects view (start, add a member, export, remove, import, as a person would with its
keys and dialogs), the clusters view's join key, and what an empty store shows first."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from tests.tui import SIZES, pressed, running_app, shown, snapshot_app
from tests.waiting import wait_until_async
from vc3tui.engine.models import Allocation, AllocationDescriptor, Blueprint, HeadSpec, Member, Project, SharedCluster
from vc3tui.engine.paths import Dirs
from vc3tui.engine.projects import project_toml
from vc3tui.engine.settings import remember
from vc3tui.engine.store import Store
from vc3tui.screens.fields import FieldsScreen
from vc3tui.screens.projects import ProjectsScreen

pytestmark = pytest.mark.timeout(60)


def team_project() -> Project:
    """cms: three members, one allocation of Amir's, a Dask blueprint, and Amir's running cluster."""
    blueprint = Blueprint.model_validate({"name": "analysis", "middleware": "dask", "workers": {"count": 4}, "allocations": [{"name": "cori"}], "head": HeadSpec()})
    return Project(
        name="cms", description="CMS analysis on three sites",
        members=[Member(name="Amir", email="amir@uni.example"), Member(name="Ye"), Member(name="Max", key_fingerprint="SHA256:" + "Q" * 43)],
        allocations=[AllocationDescriptor(name="cori", resource="cori", owner="Amir", account="m1234")],
        blueprints=[blueprint],
        clusters=[SharedCluster(name="analysis", blueprint="analysis", owner="Amir", middleware="dask", address="tcp://10.0.0.5:8786")],
    )  # fmt: skip


async def opened(pilot) -> ProjectsScreen:
    return await pressed(pilot, "colon", *"projects", "enter", opens=ProjectsScreen)


async def fill(pilot, *values: str) -> None:
    """Type each value into the dialog's fields in order, then save."""
    dialog = pilot.app.screen
    assert isinstance(dialog, FieldsScreen)
    for field, value in zip(dialog.fields, values):
        box = dialog.query_one(f"#{field.id}", Input)
        box.value = ""
        box.focus()
        await pilot.press(*value)
    await pilot.press("ctrl+s")
    await pilot.pause()


async def test_start_a_project_add_a_member_export_and_import(dirs: Dirs, tmp_path: Path) -> None:
    other = tmp_path / "from-a-teammate.toml"
    other.write_text(project_toml(team_project(), "Amir"))
    async with running_app(dirs, (120, 36)) as pilot:
        engine = pilot.app.engine
        screen = await opened(pilot)
        await shown(pilot)
        assert screen.query_one("#empty").display
        await pilot.press("n")
        await fill(pilot, "physics", "our group")
        await wait_until_async(lambda: screen.projects, 5, "the new project")
        assert [m.name for m in screen.projects[0].members] == [engine.projects.me]

        await pilot.press("m")
        await fill(pilot, "Ye", "ye@uni.example", "not a fingerprint")
        assert "is not a valid key fingerprint" in " ".join(str(n.message) for n in pilot.app._notifications)
        assert [m.name for m in (await engine.projects.get("physics")).members] == [engine.projects.me]
        await pilot.press("m")
        await fill(pilot, "Ye", "ye@uni.example", "")
        await wait_until_async(lambda: len(screen.projects[0].members) == 2, 5, "the member added")
        assert "Ye <ye@uni.example>" in str(screen.query_one("#detail", Static).render())

        await pilot.press("x")
        await fill(pilot, str(tmp_path / "physics.toml"))
        await wait_until_async(lambda: (tmp_path / "physics.toml").exists(), 5, "the exported file")
        assert 'email = "ye@uni.example"' in (tmp_path / "physics.toml").read_text()

        await pilot.press("r")
        dialog = pilot.app.screen
        dialog.query_one("#entry").value = "member:Ye"
        await pilot.press("ctrl+s")
        await wait_until_async(lambda: len(screen.projects[0].members) == 1, 5, "the member removed")

        await pilot.press("i")
        await fill(pilot, str(other))
        await wait_until_async(lambda: len(screen.projects) == 2, 5, "the imported project")
        table = screen.query_one(DataTable)
        assert [str(c) for c in table.get_row_at(0)] == ["cms", "3", "1", "1", "1"]
        imported = await engine.allocation("cori")
        assert imported.state == "needs_login" and imported.owner == "Amir"


async def test_join_lists_teammates_clusters_and_starts_one(dirs: Dirs) -> None:
    store = Store(dirs.database)
    store.put_project(team_project())
    store.close()
    async with running_app(dirs, (120, 36)) as pilot:
        await shown(pilot)
        dialog = await pressed(pilot, "j", opens=FieldsScreen)
        assert dialog.fields[0].choices == (("analysis: Amir's dask in cms", "analysis"),)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "none of cms's allocations is ready here" in " ".join(str(n.message) for n in pilot.app._notifications)


async def test_an_empty_store_shows_the_next_step(dirs: Dirs) -> None:
    async with running_app(dirs, (120, 36)) as pilot:
        await shown(pilot)
        hint = str(pilot.app.screen.query_one("#empty", Static).render())
        assert "  1. Pick a resource" in hint and "  2. Create an allocation on it: the Allocations view" in hint
    store = Store(dirs.database)
    store.put_project(team_project())
    store.put_allocation(Allocation(name="cori", resource="cori", state="ready"))
    store.close()
    async with running_app(dirs, (120, 36)) as pilot:
        await shown(pilot)
        hint = str(pilot.app.screen.query_one("#empty", Static).render())
        assert "✓ 1. Pick a resource" in hint and "✓ 2. Create an allocation on it: done: cori ready" in hint


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("with_project", [pytest.param(True, id="cms"), pytest.param(False, id="empty")])
def test_projects_view_snapshot(dirs: Dirs, snap_compare, size, with_project: bool) -> None:
    remember(dirs.ensure(), "name", "Ye")
    if with_project:
        store = Store(dirs.database)
        store.put_project(team_project())
        store.close()

    async def run_before(pilot) -> None:
        await opened(pilot)
        await shown(pilot)

    with snapshot_app(dirs) as app:
        assert snap_compare(app, terminal_size=size, run_before=run_before)

"""Resources view: the catalog (shipped profiles, this machine measured, the user's own), with
what a node offers and which batch system runs it; `n` adds a resource, `e` edits one (a shipped
one is overridden in the user's file), `d` removes a user resource, `a` shows retired sites too."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

from vc3tui.engine import LOCAL, Resource, VC3Error
from vc3tui.screens.confirm import ConfirmScreen
from vc3tui.screens.resource_form import ResourceFormScreen
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.filtering import FILTER_BINDINGS, TableFilter

COLUMNS = (("Name", 14), ("Organization", 28), ("Cores", 5), ("Memory", 7), ("Storage", 7), ("OS", 14), ("Features", 12), ("Batch", 6), ("From", 8))
"""Columns and their widths: long organization names are cut, not allowed to push the rest off."""


def size(megabytes: int | None) -> str:
    if megabytes is None:
        return "-"
    return f"{megabytes / 1000:.0f} GB" if megabytes >= 1000 else f"{megabytes} MB"


def cells(resource: Resource, origin: str) -> tuple[Text | str, ...]:
    node = resource.node
    return (
        Text(resource.name), Text(resource.organization or "-", overflow="ellipsis", no_wrap=True), str(node.cores or "-"), size(node.memory_mb),
        size(node.disk_mb), Text(resource.native_os), Text(" ".join(resource.features) or "-"), resource.batch.value, origin,
    )  # fmt: skip


class ResourcesScreen(ShowsEngineErrors, TableFilter, Screen[None]):
    TITLE = "Resources"
    BINDINGS = [
        *FILTER_BINDINGS,
        Binding("n", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("d", "remove", "Remove"),
        Binding("a", "retired", "Retired on/off", tooltip="list the sites that went out of service too"),
    ]
    filtered_table = "#resources"
    show_retired = False

    def compose(self) -> ComposeResult:
        return self.table_view(columns=COLUMNS)

    def on_mount(self) -> None:
        self.show_rows()

    def show_rows(self, select: str | None = None) -> None:
        """Rebuild the table, keeping the cursor on `select` or on the row it was on."""
        try:
            catalog = self.app.engine.catalog
            current = self.selected()
        except VC3Error as exc:  # a broken resources.toml is the user's to fix: say where
            for problem in exc.problems or [str(exc)]:
                self.notify(str(problem), severity="error", markup=False, timeout=20)
            return
        select = select or (current.name if current else None)
        table = self.query_one(DataTable)
        table.clear()
        for resource in catalog.sorted(retired=self.show_retired):
            row = cells(resource, catalog.origin.get(resource.name, ""))
            if not self.text_filter or any(self.text_filter in str(cell).lower() for cell in row):
                table.add_row(*row, key=resource.name)
        if select and select in table.rows:
            table.move_cursor(row=table.get_row_index(select))

    def filter_changed(self) -> None:
        self.show_rows()

    def action_retired(self) -> None:
        self.show_retired = not self.show_retired
        self.sub_title = "with retired sites" if self.show_retired else ""
        self.show_rows()

    def selected(self) -> Resource | None:
        table = self.query_one(DataTable)
        if not table.row_count or not table.columns:
            return None
        return self.app.engine.catalog.get(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    @engine_work
    async def action_add(self) -> None:
        await self._edit(None)

    @engine_work
    async def action_edit(self) -> None:
        resource = self.selected()
        if resource is not None and resource.name != LOCAL:
            await self._edit(resource)
        elif resource is not None:
            self.notify("`local` is this machine, measured at each start; it is not edited", severity="warning")

    async def _edit(self, resource: Resource | None) -> None:
        name = await self.app.push_screen_wait(ResourceFormScreen(resource))
        if name:
            self.show_rows(select=name)
            self.notify(f"resource {name} saved in {self.app.engine.dirs.user_resources}", markup=False)

    @engine_work
    async def action_remove(self) -> None:
        resource = self.selected()
        if resource is None:
            return
        if self.app.engine.catalog.origin.get(resource.name) != "user":
            self.notify(f"{resource.name} is not one of your resources; shipped ones cannot be removed", severity="warning", markup=False)
            return
        if await self.app.push_screen_wait(ConfirmScreen(f"Remove resource {resource.name} from your resources.toml?", "Remove")):
            self.app.engine.remove_resource(resource.name)
            self.show_rows()

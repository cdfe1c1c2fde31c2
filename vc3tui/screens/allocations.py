"""Allocations view: the user's accounts on resources with their state (`new`, `ready`,
`needs_login`, `validation_failure`, ...); `n` opens the four-step wizard, `enter` opens an
allocation at the step it needs (its own login for one a project imported), `v` validates again,
`i` installs the key, `d` deletes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

from vc3tui.engine import Allocation, AllocationState, LOCAL, printable
from vc3tui.screens.allocation_wizard import AllocationWizardScreen
from vc3tui.screens.confirm import ConfirmScreen
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.filtering import FILTER_BINDINGS, TableFilter
from vc3tui.widgets.live import StoreView

COLUMNS = (("Name", 12), ("Resource", 12), ("Login", 10), ("Account", 8), ("State", 16), ("Owner", 6), ("Reason", None))
STATE_STYLE = {
    AllocationState.READY: "green",
    AllocationState.NEW: "yellow",
    AllocationState.NEEDS_LOGIN: "bold yellow",
    AllocationState.VALIDATION_FAILURE: "bold red",
    AllocationState.FAILURE: "bold red",
}


def cells(allocation: Allocation) -> tuple[Text | str, ...]:
    state = "needs your login" if allocation.state is AllocationState.NEEDS_LOGIN and not allocation.key_path else allocation.state.value
    return (
        Text(allocation.name), Text(allocation.resource), Text(allocation.login or "-"), Text(allocation.account or "-"),
        Text(state, style=STATE_STYLE[allocation.state]), Text(allocation.owner or "you"), Text(printable(allocation.reason) or "-", no_wrap=True, overflow="ellipsis"),
    )  # fmt: skip


class AllocationsScreen(ShowsEngineErrors, TableFilter, StoreView, Screen[None]):
    TITLE = "Allocations"
    BINDINGS = [
        *FILTER_BINDINGS,
        Binding("n", "create", "New"),
        Binding("v", "validate", "Validate"),
        Binding("i", "install", "Install key"),
        Binding("d", "delete", "Delete"),
    ]
    filtered_table = "#allocations"

    def __init__(self) -> None:
        super().__init__()
        self.allocations: list[Allocation] = []

    def compose(self) -> ComposeResult:
        return self.table_view(columns=COLUMNS)

    def on_screen_resume(self) -> None:
        self.request_reload()

    async def reload(self, select: str | None = None) -> None:
        """Read the allocations; the table is drawn again only when they changed (or to move to `select`)."""
        allocations = [a for a in await self.app.engine.allocations() if a.name != LOCAL]
        if allocations != self.allocations or not self.query_one(DataTable).row_count or select:
            self.allocations = allocations
            self.show_rows(select)

    def show_rows(self, select: str | None = None) -> None:
        table = self.query_one(DataTable)
        select = select or self.selected_name()
        table.clear()
        for allocation in self.allocations:
            row = cells(allocation)
            if not self.text_filter or any(self.text_filter in str(cell).lower() for cell in row):
                table.add_row(*row, key=allocation.name)
        if select and select in table.rows:
            table.move_cursor(row=table.get_row_index(select))
        ready = sum(a.state is AllocationState.READY for a in self.allocations)
        self.sub_title = f"{len(self.allocations)} allocation{'s' * (len(self.allocations) != 1)}, {ready} ready"

    def filter_changed(self) -> None:
        self.show_rows()

    def selected_name(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected(self) -> Allocation | None:
        name = self.selected_name()
        return next((a for a in self.allocations if a.name == name), None)

    @engine_work
    async def action_create(self) -> None:
        await self._wizard(None, "login")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @engine_work
    async def action_open(self) -> None:
        allocation = self.selected()
        if allocation is not None:
            step = "install" if allocation.state is AllocationState.NEW else "validate"
            await self._wizard(allocation, step)

    @engine_work
    async def action_validate(self) -> None:
        allocation = self.selected()
        if allocation is not None:
            await self._wizard(allocation, "validate")

    @engine_work
    async def action_install(self) -> None:
        allocation = self.selected()
        if allocation is not None:
            await self._wizard(allocation, "install")

    async def _wizard(self, allocation: Allocation | None, step: str) -> None:
        if allocation is not None and allocation.state is AllocationState.NEEDS_LOGIN and not allocation.key_path:
            step = "login"
        if allocation is not None and step != "login" and not allocation.key_path:
            self.notify(f"{allocation.name} has no key; delete it and create it again", severity="warning", markup=False)
            return
        name = await self.app.push_screen_wait(AllocationWizardScreen(allocation, step=step))
        await self.reload(select=name)

    @engine_work
    async def action_delete(self) -> None:
        allocation = self.selected()
        if allocation is None:
            return
        if await self.app.push_screen_wait(ConfirmScreen(f"Forget allocation {allocation.name}? Its key stays in your data dir; clusters using it stop getting pilots from it.", "Delete")):
            await self.app.engine.delete_allocation(allocation.name)
            await self.reload()


"""`/` in any table view: a filter box at the bottom; typing narrows the rows to those containing
the text, enter goes back to the table, esc clears it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Header, Input

from vc3tui.widgets.footer import KeyFooter

FILTER_BINDINGS = [
    Binding("slash", "filter", "Filter", key_display="/"),
    Binding("escape", "clear_filter", "Clear filter", show=False),
]


class TableFilter:
    """For screens with one filter Input (#filter) and a main DataTable (`filtered_table`); they
    apply `text_filter` in `filter_changed`."""

    text_filter = ""
    filtered_table = "DataTable"

    def table_view(self, *between: Widget, columns: tuple[tuple[str, int | None], ...] = ()) -> ComposeResult:
        """A view that is one table: the header, the table (with `columns`, label and width), what
        comes `between` it and the footer, the footer (the filter box goes above it at `/`)."""
        yield Header()
        table = DataTable(id=self.filtered_table.removeprefix("#"), cursor_type="row", zebra_stripes=True)
        for label, width in columns:
            table.add_column(label, width=width)
        yield table
        yield from between
        yield KeyFooter()

    def filter_changed(self) -> None:
        """Show the rows that match `text_filter` now."""
        raise NotImplementedError

    def _filter_box(self) -> Input | None:
        found = self.query("#filter")
        return found.first(Input) if found else None

    async def action_filter(self) -> None:
        """Show the filter box (made at the first `/`: a view starts faster without it)."""
        box = self._filter_box()
        if box is None:
            box = Input(placeholder="filter: any part of a row", id="filter")
            await self.mount(box, before=self.query_one(KeyFooter))
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.text_filter = event.value.strip().lower()
            self.filter_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(self.filtered_table, DataTable).focus()

    def action_clear_filter(self) -> None:
        box = self._filter_box()
        if box is None or (not box.display and not self.text_filter):
            self.action_back_out()
            return
        box.value, box.display = "", False
        self.text_filter = ""
        self.filter_changed()
        self.query_one(self.filtered_table, DataTable).focus()

    def action_back_out(self) -> None:
        """esc with no filter to clear: the view's own way back (nothing, at the top)."""

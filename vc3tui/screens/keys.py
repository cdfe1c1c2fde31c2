"""`?`: every key of the view below, with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from vc3tui.widgets.dialog import Dialog


class KeysScreen(Dialog[None]):
    BINDINGS = [Binding("escape", "cancel", "Close"), Binding("question_mark", "cancel", "Close", show=False)]
    FRAME = "dialog wide"

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__(f"Keys: {title}")
        self.keys = keys

    def body(self) -> ComposeResult:
        yield DataTable(id="keys", cursor_type="none", show_header=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action")
        for key, description in self.keys:
            table.add_row(key, description)

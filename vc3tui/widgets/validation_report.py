"""The staged validation report as it happens: each stage's row appears when the stage ends, with
its duration, and a failed stage's fix below the table. Used by the allocation wizard's last step."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from vc3tui.engine import Allocation, StageResult, printable


class ValidationReport(Vertical):
    DEFAULT_CSS = """
    ValidationReport { height: auto; }
    ValidationReport DataTable { height: 12; }
    ValidationReport #verdict { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield DataTable(id="stages", cursor_type="none", show_cursor=False)
        yield Static("", id="verdict", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Stage", width=16)
        table.add_column("", width=4)
        table.add_column("Time", width=7)
        table.add_column("Detail")

    def clear(self, note: str = "") -> None:
        self.query_one(DataTable).clear()
        self.query_one("#verdict", Static).update(note)

    def add(self, stage: StageResult) -> None:
        """One finished stage (called by the engine as each stage ends)."""
        mark = Text("ok", style="green") if stage.ok else Text("FAIL", style="bold red")
        self.query_one(DataTable).add_row(stage.stage, mark, f"{stage.seconds:.2f}s", Text(printable(stage.detail), overflow="fold"))
        if not stage.ok:
            self.query_one("#verdict", Static).update(f"{stage.stage} failed: {printable(stage.detail)}\nfix: {printable(stage.fix)}")

    def show(self, allocation: Allocation) -> None:
        """A finished report: every stage, and the allocation's state and reason."""
        self.clear()
        for stage in allocation.report:
            self.add(stage)
        failed = next((stage for stage in allocation.report if not stage.ok), None)
        fix = f"\nfix: {failed.fix}" if failed and failed.fix else ""
        self.query_one("#verdict", Static).update(f"{allocation.name} is {allocation.state}: {printable(allocation.reason)}{fix}")

"""`=`: type the number of workers a cluster should have."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Static

from vc3tui.engine import VC3Error, WorkerCount, checked
from vc3tui.widgets.dialog import Dialog


class CountScreen(Dialog[int | None]):
    def __init__(self, name: str, current: int) -> None:
        super().__init__(f"Workers for {name} (now {current}):")
        self.current = current

    def body(self) -> ComposeResult:
        yield Input(str(self.current), type="integer", id="count")
        yield Static("", id="problem", classes="problem", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            count = checked(WorkerCount, event.value.strip(), "workers")
        except VC3Error as exc:
            self.query_one("#problem", Static).update(str(exc))
            return
        self.dismiss(count)

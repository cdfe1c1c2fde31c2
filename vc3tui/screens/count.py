"""`=`: type the number of workers a cluster should have."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from vc3tui.engine import VC3Error, WorkerCount, checked


class CountScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, name: str, current: int) -> None:
        super().__init__()
        self.cluster_name = name
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Workers for {self.cluster_name} (now {self.current}):", markup=False, classes="question")
            yield Input(str(self.current), type="integer", id="count")
            yield Static("", id="problem", classes="problem", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            count = checked(WorkerCount, event.value.strip(), "workers")
        except VC3Error as exc:
            self.query_one("#problem", Static).update(str(exc))
            return
        self.dismiss(count)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""A yes/no question whose focus starts on Cancel: a stray Enter never destroys anything."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

from vc3tui.widgets.dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    CANCELLED = False

    def __init__(self, question: str, action: str) -> None:
        super().__init__(question)
        self.action_label = action

    def body(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button("Cancel", id="cancel")
            yield Button(self.action_label, id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

"""Quitting while this process runs clusters' factories: keep them running unmanaged (pilots end by
their own timeouts), hand them to a headless process, or terminate them."""

from __future__ import annotations

from enum import StrEnum

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button

from vc3tui.widgets.dialog import Dialog


class QuitChoice(StrEnum):
    KEEP = "keep"
    HAND_OFF = "hand-off"
    TERMINATE = "terminate"


class QuitScreen(Dialog[QuitChoice | None]):
    BINDINGS = [Binding("escape", "cancel", "Stay")]

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"This window manages {', '.join(names)}. On quitting:")

    def body(self) -> ComposeResult:
        yield Button("Hand over to a background vc3tui (it keeps managing)", id=QuitChoice.HAND_OFF.value)
        yield Button("Leave running unmanaged (pilots end by their own timeouts)", id=QuitChoice.KEEP.value)
        yield Button("Terminate them", id=QuitChoice.TERMINATE.value, variant="error")
        yield Button("Stay", id="stay")

    def on_mount(self) -> None:
        self.query_one(f"#{QuitChoice.HAND_OFF.value}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else QuitChoice(event.button.id))

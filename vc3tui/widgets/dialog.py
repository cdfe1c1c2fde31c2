"""What every dialog shares: a frame over the view with its question on top, and Escape closing
it with no answer."""

from __future__ import annotations

from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

Answer = TypeVar("Answer")


class Dialog(ModalScreen[Answer]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    CANCELLED: object = None
    """What the dialog answers when closed with Escape."""
    FRAME = "dialog"

    def __init__(self, question: str = "") -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes=self.FRAME):
            yield Static(self.question, markup=False, classes="question")
            yield from self.body()

    def body(self) -> ComposeResult:
        """What goes under the question: fields, buttons."""
        return ()

    def action_cancel(self) -> None:
        self.dismiss(self.CANCELLED)

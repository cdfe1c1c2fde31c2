"""`:`: jump to a view by name, as in k9s (`:clusters`); a unique prefix is enough."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static


class JumpScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, views: list[str]) -> None:
        super().__init__()
        self.views = views

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt"):
            yield Input(placeholder=" | ".join(self.views), suggester=SuggestFromList(self.views), id="view")
            yield Static("", id="problem", classes="problem", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip().lstrip(":").lower()
        matches = [view for view in self.views if view.startswith(text)] if text else []
        if len(matches) != 1:
            self.query_one("#problem", Static).update(f"no single view starts with {text!r}; views: {', '.join(self.views)}")
            return
        self.dismiss(matches[0])

    def action_cancel(self) -> None:
        self.dismiss(None)

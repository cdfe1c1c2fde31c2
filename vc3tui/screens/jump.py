"""`:`: jump to a view by name, as in k9s (`:clusters`); a unique prefix is enough."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from vc3tui.widgets.dialog import Dialog


class JumpScreen(Dialog[str | None]):
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

"""A small form as a dialog: a few labelled text fields or choices, answered with ctrl+s or enter.
The projects and clusters views ask for names, paths and choices through it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from vc3tui.widgets.dialog import Dialog


@dataclass(frozen=True)
class Field:
    """One field; with `choices` ((label, value), ...) it is a pick-one list."""

    id: str
    label: str
    value: str = ""
    choices: tuple[tuple[str, str], ...] = ()


class FieldsScreen(Dialog[dict[str, str] | None]):
    """Dismissed with {field id: text}, or None when cancelled."""

    BINDINGS = [Binding("ctrl+s", "save", "Save")]

    def __init__(self, title: str, fields: list[Field], action: str = "OK") -> None:
        super().__init__()
        self.heading = title
        self.fields = fields
        self.action_label = action

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog fields"):
            yield Static(self.heading, classes="question", markup=False)
            for field in self.fields:
                yield Label(field.label)
                if field.choices:
                    yield Select(list(field.choices), value=field.value or field.choices[0][1], allow_blank=False, id=field.id)
                else:
                    yield Input(field.value, id=field.id)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.action_label, id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one(f"#{self.fields[0].id}").focus()

    def values(self) -> dict[str, str]:
        out = {}
        for field in self.fields:
            widget = self.query_one(f"#{field.id}")
            out[field.id] = str(widget.value).strip()
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_save(self) -> None:
        self.dismiss(self.values())

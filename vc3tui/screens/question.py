"""The engine's questions (host keys, passwords, one-time codes) as a dialog; the answer, or a
cancel, goes back through the question channel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from vc3tui.engine import Question, QuestionKind
from vc3tui.widgets.dialog import Dialog


class QuestionScreen(Dialog[str | None]):
    """Dismissed with the answer, or None when the user cancels."""

    def __init__(self, question: Question) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        question = self.question
        with Vertical(classes="dialog"):
            if question.about:
                yield Static(question.about, markup=False, classes="about")
            yield Static(question.prompt, markup=False, classes="question")
            if question.detail:
                yield Static(question.detail, markup=False, classes="detail")
            if question.kind in (QuestionKind.HOST_KEY, QuestionKind.CONFIRM):
                with Horizontal(classes="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button("Accept" if question.kind is QuestionKind.HOST_KEY else "Yes", id="yes", variant="warning")
            else:
                yield Input(password=question.secret, id="answer")

    def on_mount(self) -> None:
        if self.query("#answer"):
            self.query_one("#answer", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss("yes" if event.button.id == "yes" else None)

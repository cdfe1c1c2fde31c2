"""The engine's only way to ask the user something: questions with ids out, answers in.

The TUI shows a dialog per question and the headless runner prompts on the terminal; nothing
under engine/ reads a terminal. With no one to ask (`--no-input`), asking fails at once with a
message that says which flag or file would have answered.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from vc3tui.engine.errors import VC3Error


class QuestionKind(StrEnum):
    HOST_KEY = "host_key"
    PASSWORD = "password"
    OTP = "otp"
    TEXT = "text"
    CONFIRM = "confirm"


class NoAnswer(VC3Error):
    """Nobody can answer (no input allowed) or the user cancelled; the message says what to do."""


@dataclass(frozen=True)
class Question:
    id: int
    kind: QuestionKind
    prompt: str
    detail: str = ""
    about: str = ""
    secret: bool = False
    hint_when_unanswered: str = ""


@dataclass
class QuestionChannel:
    """Many askers, one answerer; each question waits on its own future."""

    interactive: bool = True
    on_secret: Callable[[str], None] | None = None
    """Told every password or passphrase answered, so the engine can redact it."""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _pending: dict[int, tuple[Question, asyncio.Future[str]]] = field(default_factory=dict)
    _outbox: asyncio.Queue[Question] = field(default_factory=asyncio.Queue)

    async def ask(
        self,
        kind: QuestionKind,
        prompt: str,
        *,
        detail: str = "",
        about: str = "",
        secret: bool | None = None,
        hint_when_unanswered: str = "",
    ) -> str:
        if not self.interactive:
            raise NoAnswer(f"{about + ': ' if about else ''}{prompt.strip()} needs an answer, but input is off; {hint_when_unanswered or 'run without --no-input'}")
        question = Question(
            id=next(self._ids),
            kind=kind,
            prompt=prompt,
            detail=detail,
            about=about,
            secret=kind in (QuestionKind.PASSWORD, QuestionKind.OTP) if secret is None else secret,
            hint_when_unanswered=hint_when_unanswered,
        )
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[question.id] = (question, future)
        await self._outbox.put(question)
        try:
            return await future
        finally:
            self._pending.pop(question.id, None)

    def answer(self, question_id: int, value: str) -> None:
        entry = self._pending.get(question_id)
        if entry and not entry[1].done():
            if entry[0].kind is QuestionKind.PASSWORD and self.on_secret:
                self.on_secret(value)
            entry[1].set_result(value)

    def cancel(self, question_id: int, reason: str = "cancelled by the user") -> None:
        entry = self._pending.get(question_id)
        if entry and not entry[1].done():
            entry[1].set_exception(NoAnswer(f"{entry[0].about + ': ' if entry[0].about else ''}{reason}"))

    def pending(self) -> list[Question]:
        return [question for question, _ in self._pending.values()]

    async def questions(self) -> AsyncIterator[Question]:
        """Every question as it is asked, for the one answerer (a dialog or a terminal prompt)."""
        while True:
            question = await self._outbox.get()
            if question.id in self._pending:
                yield question

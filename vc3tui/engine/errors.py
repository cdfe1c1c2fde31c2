"""The one base of every engine failure a user can act on, so front ends catch one thing."""

from __future__ import annotations


class VC3Error(Exception):
    """What went wrong and, in `hint`, what to do (often already in the message); `problems`
    holds one line per problem where there are several (a file's), each complete on its own."""

    hint: str = ""
    problems: list[str]

    def __init__(self, message: str = "", *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint
        self.problems = []

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}; {self.hint}" if self.hint else message


class EngineError(VC3Error):
    """A request the engine cannot carry out; the message says why and what to do."""

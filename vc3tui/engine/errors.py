"""The one base of every engine failure a user can act on, so front ends catch one thing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence


class VC3Error(Exception):
    """What went wrong and, in `hint`, what to do (often already in the message); `problems`
    holds one line per problem where there are several, each complete on its own; `located` holds
    them with their file and line (a file's problems), and each line then begins with both."""

    hint: str = ""
    problems: list[str]
    located: Sequence[object] = ()

    def __init__(self, message: str = "", *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint
        self.problems = []

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}; {self.hint}" if self.hint else message


class EngineError(VC3Error):
    """A request the engine cannot carry out; the message says why and what to do."""


@contextlib.contextmanager
def file_errors(path: object, doing: str) -> Iterator[None]:
    """An OSError while `doing` something to `path` ("write the ticket") as a VC3Error naming both."""
    try:
        yield
    except OSError as exc:
        raise EngineError(f"{path}: cannot {doing}: {exc.strerror or exc}; check the path and its permissions") from None

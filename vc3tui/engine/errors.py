"""The one base of every engine failure a user can act on, so front ends catch one thing."""

from __future__ import annotations

import contextlib
import errno
import os
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
    """An OSError while `doing` something to `path` ("write the ticket") as a VC3Error naming
    both, the true cause and what to do about it."""
    try:
        yield
    except OSError as exc:
        raise EngineError(f"{path}: cannot {doing}: {_cause(exc, path)}") from None


def _cause(exc: OSError, path: object) -> str:
    folder = os.path.dirname(str(path)) or "."
    causes = {
        errno.ENOENT: f"the folder {folder} does not exist; create it first or choose another path",
        errno.EISDIR: "it is a directory; give a file's path",
        errno.ENOTDIR: f"{folder} is not a folder; choose another path",
        errno.ENOSPC: "the disk is full; free some space on it and try again",
        errno.EDQUOT: "you are over your disk quota; free some space and try again",
        errno.EROFS: "the filesystem is read-only; choose a path on another",
        errno.EACCES: f"permission denied; check who may write {folder} (ls -ld)",
        errno.EPERM: f"permission denied; check who may write {folder} (ls -ld)",
    }
    return causes.get(exc.errno, f"{exc.strerror or exc}; check the path and its permissions")

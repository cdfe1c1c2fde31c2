"""Plain-text output for the scripting commands: aligned tables and key/value lists, no colour,
and never a control character from a file or a site passed to the terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from vc3tui.engine import printable, printable_lines


class ShownText:
    """stdout or stderr as the commands use them: whatever is written shows its control
    characters as escapes (newlines and tabs kept), so no text a file or a site supplies can
    move the cursor, clear the screen or set the terminal's title."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable_lines(text))

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def shown_only() -> None:
    """Put ShownText over stdout and stderr for the rest of the command."""
    sys.stdout, sys.stderr = ShownText(sys.stdout), ShownText(sys.stderr)


def terminal_control(sequence: str) -> None:
    """Our own terminal codes (the live status line's), written past ShownText."""
    getattr(sys.stdout, "stream", sys.stdout).write(sequence)


def print_pairs(rows: Sequence[tuple[str, object]]) -> None:
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {printable(str(value))}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    text = [[printable(str(cell)) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in text) for i in range(len(header))]
    for row in text:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def stated(value: object) -> object:
    """A fact the profile does not state shows as `-`."""
    return "-" if value is None else value


def when(seconds: float | None) -> str:
    """A moment as local date and minute, or `-` for none."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"

"""Plain-text tables and key/value lists for the scripting commands, aligned, no colour."""

from __future__ import annotations

import time
from collections.abc import Sequence


def print_pairs(rows: Sequence[tuple[str, object]]) -> None:
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    text = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in text) for i in range(len(header))]
    for row in text:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def stated(value: object) -> object:
    """A fact the profile does not state shows as `-`."""
    return "-" if value is None else value


def when(seconds: float | None) -> str:
    """A moment as local date and minute, or `-` for none."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"

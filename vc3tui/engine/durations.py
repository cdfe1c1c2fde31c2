"""Durations as HPC users write them: `90s`, `30m`, `2h`, `1d12h`, `02:00:00` or SLURM's `1-12:00:00`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_RE = re.compile(r"(\d{1,12})([smhdw])")
_CLOCK_RE = re.compile(r"^(?:(\d{1,6})-)?(\d{1,9}):(\d{1,2})(?::(\d{1,2}))?$")

MAX_DURATION = 366 * 86400
"""The longest duration anything takes (a walltime, an extension, an idle time): a year."""

DURATION_HINT = "write a duration like '90m', '2h', '1d12h' or '02:00:00'"


def parse_duration(text: str) -> int:
    """Seconds in `text`; ValueError with a hint when it is not a duration."""
    value = text.strip().lower().replace(" ", "")
    clock = _CLOCK_RE.match(value)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        if int(minutes) > 59 or (seconds is not None and int(seconds) > 59):
            raise ValueError(f"{text!r} is not a duration; {DURATION_HINT}")
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
    parts = _UNIT_RE.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"{text!r} is not a duration; {DURATION_HINT}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: int) -> str:
    """The shortest unit form, e.g. 5400 -> '1h30m'; what the store and files get back."""
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def _to_seconds(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a duration string; {DURATION_HINT}")
    return value


def _within_a_year(seconds: int) -> int:
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"longer than {format_duration(MAX_DURATION)}, the longest a duration may be")
    return seconds


Duration = Annotated[
    int, BeforeValidator(_to_seconds), AfterValidator(_within_a_year), Field(ge=0, le=MAX_DURATION), PlainSerializer(format_duration, return_type=str)
]
"""Seconds inside the engine (at most a year); a readable string in files."""

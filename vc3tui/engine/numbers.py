"""Reading whole numbers from text that tools and people type. str.isdigit() is true for '²' and
'٣', which int() refuses, so every parser and form asks here instead."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """The number `text` spells in ASCII digits (a leading '-' when `signed`), else None."""
    return int(text) if (_SIGNED if signed else _DIGITS).fullmatch(text) else None

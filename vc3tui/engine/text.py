"""Text from files and sites as a terminal shows it: control characters are made visible, never
acted on (an ESC can set a terminal's title, clear it or draw fake lines; a bidi override can
make a line read other than it runs)."""

from __future__ import annotations

import re

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls, DEL, and the Unicode direction marks and overrides."""
_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: str) -> str:
    """One line of text with every control character (newlines too) shown as an escape."""
    return CONTROL.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Lines of text (a log, a report): newlines and tabs kept, every other control shown as an escape."""
    return _IN_TEXT.sub(_escape, text)

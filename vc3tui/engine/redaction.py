"""Secrets this process has seen — passwords and passphrases typed in, middleware secrets it made
or copied — replaced by [redacted] in everything it writes down or shows: events, cluster and
pilot reasons, pilot logs. A secret never goes on a command line; this is the second line, for
text that comes back from sites (a tool echoing its input, a worker printing its configuration)."""

from __future__ import annotations

REDACTED = "[redacted]"
SHORTEST = 6
"""Shorter pieces would blank ordinary words and numbers; no secret vc3tui makes is this short."""


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []

    def add(self, secret: str | bytes) -> None:
        """Remember a secret, and each of its lines (a key file's body shows up line by line)."""
        text = secret.decode(errors="replace") if isinstance(secret, bytes) else secret
        pieces = {text.strip(), *(line.strip() for line in text.splitlines())}
        new = {piece for piece in pieces if len(piece) >= SHORTEST and "-----" not in piece} - self._secrets
        if new:
            self._secrets |= new
            self._ordered = sorted(self._secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

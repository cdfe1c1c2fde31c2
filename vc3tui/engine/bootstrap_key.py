"""The key under which the builder's sh bootstrap (builder/vc3-builder) keeps a pilot's activation:
the POSIX `cksum` of its request (the bootstrap's dir, VC3_BUILDER_PYTHON, then its arguments but
`--env-to`'s, one per line). Worked out here once per wrapper and handed to the bootstrap
(VC3_BUILDER_KEY), a warm pilot starts no program at all: on a node where many pilots start at
once, each process one of them starts delays the others. A wrong key costs only speed: the
bootstrap still compares the request it kept with its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

POLYNOMIAL = 0x04C11DB7


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = (crc << 1) ^ POLYNOMIAL if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


CRC_TABLE = _crc_table()


def posix_cksum(data: bytes) -> int:
    """What `cksum` prints first for `data`: a CRC-32 over the bytes and then their length."""
    crc = 0
    length = len(data)
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC_TABLE[(crc >> 24) ^ byte]
    while length:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC_TABLE[(crc >> 24) ^ (length & 0xFF)]
        length >>= 8
    return ~crc & 0xFFFFFFFF


@dataclass(frozen=True)
class BootstrapCall:
    """A builder argv that runs the sh bootstrap by its absolute path: which file, with which
    python (VC3_BUILDER_PYTHON, or "" to look for one) and which arguments (from --install on)."""

    path: str
    python: str
    args: tuple[str, ...]

    @property
    def folder(self) -> str:
        """Where the bootstrap is (its `here`), which is part of its request."""
        return self.path.rsplit("/", 1)[0]

    @property
    def key(self) -> str:
        """The bootstrap's key for this request (see the module's docstring)."""
        request = "\n".join([self.folder, self.python, *self.args]) + "\n"
        return str(posix_cksum(request.encode()))


def bootstrap_call(builder: Sequence[str]) -> BootstrapCall | None:
    """`builder` (an argv as Engine.builder_command makes it: `sh PATH --install ROOT ...`, perhaps
    after `env VC3_BUILDER_PYTHON=...`) as a bootstrap call, or None when it does not run the
    bootstrap by its absolute path (the pilot-carried builder finds its own)."""
    python = ""
    for index, arg in enumerate(builder[:-1]):
        if arg.startswith("VC3_BUILDER_PYTHON="):
            python = arg.partition("=")[2]
        if arg == "sh" and builder[index + 1].startswith("/") and index + 2 < len(builder) and builder[index + 2] == "--install":
            return BootstrapCall(builder[index + 1], python, tuple(builder[index + 2 :]))
    return None

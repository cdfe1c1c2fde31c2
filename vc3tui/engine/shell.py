"""Shell text for commands that pass through a remote shell: every word quoted."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence


def with_env(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """`exec env NAME=VALUE ... ARGV` for a remote shell, every word quoted."""
    return f"exec env {' '.join(shlex.quote(f'{k}={v}') for k, v in env.items())} {shlex.join(argv)}"


def in_dir(cwd: str, command: str) -> str:
    return f"cd {shlex.quote(cwd)} && {command}"

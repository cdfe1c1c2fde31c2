"""Files shipped to a site (builder, pilot scripts) are named by their content's hash.

An upload happens only when that content is not there yet; it goes to a temporary name and is
renamed into place, so pilots still reading an older version are never handed half a file. The
files of one submission travel in one round trip.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
from collections.abc import Sequence

from vc3tui.engine.interfaces import CommandFailed, Executor
from vc3tui.engine.paths import shipped_dir


def staged_path(data: bytes, directory: str, name: str) -> str:
    """Where `data` lives on the site: `DIRECTORY/STEM-HASH.SUFFIX`."""
    stem, dot, suffix = name.partition(".")
    return f"{directory}/{stem}-{hashlib.sha256(data).hexdigest()[:16]}{dot}{suffix}"


async def stage_files(executor: Executor, files: Sequence[tuple[bytes, str]], *, dirs: Sequence[str] = ()) -> None:
    """Make `dirs` and put every (content, path) not already there, in one round trip: each file
    travels base64-encoded inside the script (on stdin, never on a command line) and is renamed
    into place once whole."""
    lines = ["set -e", "umask 022"]
    folders = {path.rsplit("/", 1)[0] for _, path in files} | set(dirs)
    if folders:
        lines.append("mkdir -p " + " ".join(shlex.quote(folder) for folder in sorted(folders)))
    for data, path in files:
        quoted, temporary = shlex.quote(path), shlex.quote(f"{path}.tmp-{os.getpid()}")
        encoded = base64.b64encode(data).decode()
        lines.append(
            f"test -f {quoted} || {{ printf '%s' '{encoded}' | base64 -d > {temporary} && chmod 755 {temporary} && mv -f {temporary} {quoted}; }}"
        )
    result = await executor.run_script("\n".join(lines) + "\n", timeout=120)
    if not result.ok:
        raise CommandFailed(result)


async def stage_builder(executor: Executor, directory: str) -> str:
    """The builder's sh bootstrap on the site, beside its Python file, both in a folder named by
    their joint hash (the bootstrap finds the Python file next to itself)."""
    shipped = shipped_dir("builder")
    files = {name: (shipped / name).read_bytes() for name in ("vc3-builder", "vc3_builder.py")}
    digest = hashlib.sha256(files["vc3-builder"] + files["vc3_builder.py"]).hexdigest()[:16]
    folder = f"{directory}/{digest}"
    bootstrap = f"{folder}/vc3-builder"
    await stage_files(executor, [(files["vc3_builder.py"], f"{folder}/vc3_builder.py"), (files["vc3-builder"], bootstrap)])
    return bootstrap

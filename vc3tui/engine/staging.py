"""Files shipped to a site (builder, pilot scripts) are named by their content's hash.

An upload happens only when that content is not there yet; it goes to a temporary name and is
renamed into place, so pilots still reading an older version are never handed half a file.
"""

from __future__ import annotations

import hashlib
import shlex

from vc3tui.engine.interfaces import Executor
from vc3tui.engine.paths import shipped_dir


async def stage_file(executor: Executor, data: bytes, directory: str, name: str, *, mode: int = 0o755) -> str:
    """The path of `data` on the site as `DIRECTORY/STEM-HASH.SUFFIX`, uploading it only if absent."""
    stem, dot, suffix = name.partition(".")
    path = f"{directory}/{stem}-{hashlib.sha256(data).hexdigest()[:16]}{dot}{suffix}"
    present = await executor.run_script(f"mkdir -p {shlex.quote(directory)} && test -f {shlex.quote(path)}\n")
    if not present.ok:
        await executor.put(data, path, mode=mode)
    return path


async def stage_builder(executor: Executor, directory: str) -> str:
    """The builder's sh bootstrap on the site, beside its Python file, both in a folder named by
    their joint hash (the bootstrap finds the Python file next to itself)."""
    shipped = shipped_dir("builder")
    files = {name: (shipped / name).read_bytes() for name in ("vc3-builder", "vc3_builder.py")}
    digest = hashlib.sha256(files["vc3-builder"] + files["vc3_builder.py"]).hexdigest()[:16]
    folder = f"{directory}/{digest}"
    bootstrap = f"{folder}/vc3-builder"
    present = await executor.run_script(f"test -f {shlex.quote(folder)}/vc3_builder.py && test -f {shlex.quote(bootstrap)}\n")
    if not present.ok:
        await executor.run(["mkdir", "-p", folder])
        await executor.put(files["vc3_builder.py"], f"{folder}/vc3_builder.py", mode=0o755)
        await executor.put(files["vc3-builder"], bootstrap, mode=0o755)
    return bootstrap

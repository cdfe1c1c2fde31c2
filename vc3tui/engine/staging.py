"""Files shipped to a site (builder, pilot scripts) are named by their content's hash.

An upload happens only when that content is not there yet; it goes to a temporary name and is
renamed into place, so pilots still reading an older version are never handed half a file.
"""

from __future__ import annotations

import hashlib
import shlex

from vc3tui.engine.interfaces import Executor


async def stage_file(executor: Executor, data: bytes, directory: str, name: str, *, mode: int = 0o755) -> str:
    """The path of `data` on the site as `DIRECTORY/STEM-HASH.SUFFIX`, uploading it only if absent."""
    stem, dot, suffix = name.partition(".")
    path = f"{directory}/{stem}-{hashlib.sha256(data).hexdigest()[:16]}{dot}{suffix}"
    present = await executor.run_script(f"mkdir -p {shlex.quote(directory)} && test -f {shlex.quote(path)}\n")
    if not present.ok:
        await executor.put(data, path, mode=mode)
    return path

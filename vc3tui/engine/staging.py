"""Files shipped to a site (builder, pilot scripts) are named by their content's hash.

An upload happens only when that content is not there yet; it goes to a temporary name and is
renamed into place, so pilots still reading an older version are never handed half a file. The
files of one submission travel in one round trip.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import io
import os
import shlex
from collections.abc import Sequence

from vc3tui.engine.interfaces import CommandFailed, Executor
from vc3tui.engine.paths import shipped_dir


def staged_path(data: bytes, directory: str, name: str) -> str:
    """Where `data` lives on the site: `DIRECTORY/STEM-HASH.SUFFIX`."""
    stem, dot, suffix = name.partition(".")
    return f"{directory}/{stem}-{hashlib.sha256(data).hexdigest()[:16]}{dot}{suffix}"


TEMPORARY = ".tmp-"
"""What a staged file's temporary name adds to its path, before the writer's pid."""


def staging_lines(files: Sequence[tuple[bytes, str]], dirs: Sequence[str] = ()) -> list[str]:
    """The shell lines that make `dirs` and put every (content, path) not already there. Each file
    travels inside the script (on stdin, never on a command line): text as a quoted argument of
    the shell's own `printf` (on a crowded login node every process started counts), other bytes
    base64-encoded. Each goes to a temporary name, is made 755, and is renamed into place once
    whole. They stop the script at the first failure (`set -e`)."""
    lines = ["set -e", "umask 022"]
    folders = {path.rsplit("/", 1)[0] for _, path in files} | set(dirs)
    if folders:
        lines.append("mkdir -p " + " ".join(shlex.quote(folder) for folder in sorted(folders)))
    if not files:
        return lines
    lines.append("set --")  # the temporaries written by this script, and only those
    for data, path in files:
        quoted, temporary = shlex.quote(path), shlex.quote(f"{path}{TEMPORARY}{os.getpid()}")
        lines.append(f'test -f {quoted} || {{ {_writing(data)} > {temporary}; set -- "$@" {temporary}; }}')
    return [*lines, '[ "$#" -eq 0 ] || chmod 755 "$@"', f'for t; do mv -f "$t" "${{t%{TEMPORARY}*}}"; done']


def _writing(data: bytes) -> str:
    """A command that prints `data` exactly: text through printf alone, other bytes through base64."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and "\0" not in text:
        return f"printf '%s' {shlex.quote(text)}"
    return f"printf '%s' '{base64.b64encode(data).decode()}' | base64 -d"


async def stage_files(executor: Executor, files: Sequence[tuple[bytes, str]], *, dirs: Sequence[str] = ()) -> None:
    """Stage `files` and `dirs` (staging_lines) in one round trip."""
    result = await executor.run_script("\n".join(staging_lines(files, dirs)) + "\n", timeout=120)
    if not result.ok:
        raise CommandFailed(result)


BUILDER_FILES = ("vc3-builder", "vc3_builder.py", "vc3-recipes.json")
"""The builder as shipped: the sh bootstrap, the Python file it runs, and the recipe database."""


@functools.cache
def builder_files() -> dict[str, bytes]:
    shipped = shipped_dir("builder")
    return {name: (shipped / name).read_bytes() for name in BUILDER_FILES}


def builder_digest() -> str:
    return hashlib.sha256(b"".join(builder_files().values())).hexdigest()[:16]


async def stage_builder(executor: Executor, directory: str) -> str:
    """The builder's sh bootstrap on the site, beside its Python file and recipes, all in a folder
    named by their joint hash (the bootstrap finds the others next to itself). A site that has
    them is only asked: the files travel (some 80 kB) when one is missing."""
    folder = f"{directory}/{builder_digest()}"
    files = [(data, f"{folder}/{name}") for name, data in builder_files().items()]
    present = await executor.run(["sh", "-c", 'for f; do test -f "$f" || exit 1; done', "sh", *(path for _, path in files)], timeout=60)
    if not present.ok:
        await stage_files(executor, files)
    return f"{folder}/vc3-builder"


UNPACK = (
    'd="${{TMPDIR:-/tmp}}/vc3-builder-{digest}"; '
    '[ -f "$d/vc3-builder" ] || {{ t="$d.$$"; mkdir -p "$t" && printf %s "$0" | base64 -d | tar -xzf - -C "$t" '
    '&& {{ mv "$t" "$d" 2>/dev/null || rm -rf "$t"; }}; }}; '
    'exec sh "$d/vc3-builder" "$@"'
)


@functools.cache
def embedded_builder() -> tuple[str, ...]:
    """The builder carried inside the pilot script, for sites whose compute nodes do not see the
    login node's files (OSG, HTCondor pools): a gzipped tar in base64, unpacked once per node
    into $TMPDIR. The tar is byte-for-byte reproducible, so the folder name is its hash."""
    import tarfile  # a pilot-carried builder's only user: not imported to show a view

    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for name, data in builder_files().items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    blob = base64.b64encode(packed.getvalue()).decode()
    return ("sh", "-c", UNPACK.format(digest=builder_digest()), blob)

"""What the builder tests share: two small C packages made as real tarballs (libgreet, a library,
and greet, a tool linked against it), a recipe database for them, mirrors served by a local
http.server on 127.0.0.1, and a way to run the builder as a site would."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vc3tui.engine.paths import shipped_dir

BUILDER = shipped_dir("builder") / "vc3_builder.py"

LIBGREET_C = 'const char *greeting(void) { return "hello from libgreet %s"; }\n'
GREET_C = '#include <stdio.h>\nconst char *greeting(void);\nint main(void) { puts(greeting()); return 0; }\n'
CONFIGURE = '#!/bin/sh\nfor a; do case $a in --prefix=*) echo "PREFIX=${a#--prefix=}" > config.mk;; esac; done\n'
LIB_MAKEFILE = """include config.mk
libgreet.a: greet.c
\t$(CC) -c greet.c -o greet.o && ar rcs libgreet.a greet.o
install: libgreet.a
\tmkdir -p $(PREFIX)/lib && cp libgreet.a $(PREFIX)/lib/
"""
TOOL_MAKEFILE = """include config.mk
greet: main.c
\t$(CC) main.c -o greet -L$(VC3_ROOT_LIBGREET)/lib -lgreet
install: greet
\tmkdir -p $(PREFIX)/bin && cp greet $(PREFIX)/bin/
"""
COUNT = 'echo "$VC3_PREFIX ${SLURM_JOB_ID:-none}" >> "$VC3_TEST_COUNTER"'
"""A build step that records each build run, and the SLURM job it ran in if any."""


def tarball(name: str, files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{path}")
            info.size, info.mode = len(data), 0o755 if path == "configure" else 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_sources(mirror: Path) -> dict[str, str]:
    """libgreet 1.0 and 2.0, greet 1.0 and 2.0 as tarballs in `mirror`; returns name -> sha256."""
    mirror.mkdir(parents=True, exist_ok=True)
    sums = {}
    for version in ("1.0", "2.0"):
        for package, files in (
            ("libgreet", {"greet.c": LIBGREET_C % version, "configure": CONFIGURE, "Makefile": LIB_MAKEFILE}),
            ("greet", {"main.c": GREET_C, "configure": CONFIGURE, "Makefile": TOOL_MAKEFILE}),
        ):
            name = f"{package}-{version}.tar.gz"
            data = tarball(f"{package}-{version}", files)
            (mirror / name).write_bytes(data)
            sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def recipes(sums: dict[str, str], greet2_needs: list[str] | None = None, extra_step: str | None = None) -> dict:
    """greet 2.0 needs libgreet in `greet2_needs` (default any); every build counts itself."""

    def version(package: str, number: str, deps: dict[str, list[str]]) -> dict:
        name = f"{package}-{number}.tar.gz"
        steps = [COUNT, *([extra_step] if extra_step else []), './configure --prefix="$VC3_PREFIX"', "make", "make install"]
        return {"version": number, "source": {"type": "tarball", "files": [{"name": name, "sha256": sums[name]}], "steps": steps}, "dependencies": deps}

    return {
        "packages": {
            "libgreet": {
                "section": "tools",
                "description": "a C library",
                "versions": [version("libgreet", "1.0", {}), version("libgreet", "2.0", {})],
            },
            "greet": {
                "section": "tools",
                "description": "a C tool linked against libgreet",
                "versions": [
                    version("greet", "1.0", {"libgreet": ["1.0"]}),
                    version("greet", "2.0", {"libgreet": greet2_needs or ["1.0"]}),
                ],
                "environment": [{"name": "PATH", "prepend": "${PREFIX}/bin"}],
            },
        }
    }


def write_recipes(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=1))
    return path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on 127.0.0.1 at a free port; yields its base URL."""
    handler = lambda *a, **k: QuietHandler(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def builder_argv(root: Path, *args: str) -> list[str]:
    return [sys.executable, str(BUILDER), "--install", str(root), *args]


def run_builder(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(builder_argv(root, *args), capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def runs(counter: Path) -> list[str]:
    """The prefixes built, one per build run."""
    return [line.split()[0] for line in counter.read_text().splitlines()] if counter.exists() else []


def build_jobs(counter: Path) -> list[str]:
    """The SLURM job id each build ran in ('none' outside SLURM)."""
    return [line.split()[1] for line in counter.read_text().splitlines()] if counter.exists() else []


RECORDER = """#!/bin/sh
# Stand-in for {name} (not installable here): records its arguments and the variables the
# builder hands it, one per line, then runs what follows the image ({name}) or its arguments.
out="$VC3_TEST_RECORD"
for a in "$0" "$@"; do printf '%s\\n' "$a"; done > "$out"
env | grep -E '^(APPTAINERENV_|SINGULARITYENV_)' | sort > "$out.env"
{run}
"""


def stand_in(bin_dir: Path, name: str, run: str) -> Path:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(RECORDER.format(name=name, run=run))
    path.chmod(0o755)
    return path


def stage(source: Path, builder_root: Path, folder: str, name: str | None = None, owner: str | None = None) -> None:
    """A file where a site's builder finds it (ROOT/FOLDER/NAME: a recipe in recipes.d, a file in
    distfiles), as a site's people would put it there, owned by `owner` with the folders made for it."""
    target = builder_root / folder / (name or source.name)
    made = [path for path in (target.parent, *target.parent.parents) if not path.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    if owner:
        for path in {*made, builder_root, target.parent, target}:
            shutil.chown(path, owner, owner)

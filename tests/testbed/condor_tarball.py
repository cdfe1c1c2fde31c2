"""An HTCondor tarball for nodes without HTCondor, as glideinWMS ships one: made from the trixie
package in the test bed's root (this machine's Debian has none), each program with its libraries
and the loader beside it, so it runs on bookworm. Programs name their loader by a placeholder that
the builder overwrites with the unpacked path (the recipe's `relocate`); libraries are found by
`$ORIGIN`. Kept in the clone's cache, keyed by the root and by this file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.builder_site import stage
from tests.testbed import root_with
from tests.testbed.condor import HTCONDOR
from vc3tui.engine.paths import shipped_dir

VERSION = HTCONDOR.split("+")[0]
PLACEHOLDER = "/vc3-relocate-loader" + "/" * 180
"""What each program names as its loader until the builder unpacks it (room for a long path)."""
LOADER = "lib/ld-linux-x86-64.so.2"
PROGRAMS = {"bin": "usr/bin", "sbin": "usr/sbin", "libexec/condor": "usr/libexec/condor"}
"""Where the tarball puts each of the package's program dirs (Debian's layout under a prefix)."""
LIBRARY_DIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "lib")
LOADED_LATER = ("libssl.so.3", "libSciTokens.so.0", "libmunge.so.2")
"""Libraries HTCondor opens at run time (dlopen), which no program lists."""
def usable() -> str | None:
    return root_with("the HTCondor tarball (patchelf)", "patchelf")


def condor_tarball(root: Path, cache: Path) -> Path:
    """The tarball (`<name>.tar.gz`, with `<name>.json` the recipe naming its sha256), made once
    per root and per this file's text."""
    key = hashlib.sha256(f"{root.name}\n{Path(__file__).read_text()}".encode()).hexdigest()[:8]
    tarball = cache / f"htcondor-{VERSION}-x86_64-relocatable-{key}.tar.gz"
    if not tarball.exists():
        building = cache / f".tarball-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _gather(root, building / f"htcondor-{VERSION}")
            data = _tar(building)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        partial = tarball.with_suffix(f".part{os.getpid()}")
        partial.write_bytes(data)
        partial.rename(tarball)
        tarball.with_suffix("").with_suffix(".json").write_text(json.dumps(recipe(tarball), indent=1))
    return tarball


def recipe(tarball: Path) -> dict:
    """A recipe database for a site's `recipes.d`: the shipped htcondor package (the system's, and
    how a prefix of its own is activated) with this tarball as its other version (a `binary` source)."""
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    source = {"type": "binary", "files": [{"name": tarball.name, "sha256": digest}],
              "relocate": {"placeholder": PLACEHOLDER, "loader": LOADER, "dirs": list(PROGRAMS)}}  # fmt: skip
    shipped = json.loads((shipped_dir("builder") / "vc3-recipes.json").read_text())["packages"]["htcondor"]
    versions = [*shipped["versions"], {"version": VERSION, "source": source}]
    return {"packages": {"htcondor": {**shipped, "versions": versions}}}


def _elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def _gather(root: Path, out: Path) -> None:
    library_path = ":".join(str(root / d) for d in LIBRARY_DIRS)
    libraries: set[Path] = set()
    programs: list[Path] = []
    for into, source in PROGRAMS.items():
        (out / into).mkdir(parents=True)
        for path in sorted((root / source).iterdir()):
            if into != "libexec/condor" and not path.name.startswith("condor_"):
                continue
            target = out / into / path.name
            if path.is_symlink():
                link = os.readlink(path)
                if link.startswith("/"):  # the package's absolute links: relative within the tarball
                    link = os.path.relpath(str(root) + link, path.parent)
                target.symlink_to(link)
            elif path.is_file():
                shutil.copy2(path, target)
                if _elf(path):
                    programs.append(target)
                    libraries |= _needed(root, path, library_path)
    (out / "lib").mkdir()
    for name in LOADED_LATER:
        found = [Path(d) / name for d in library_path.split(":") if (Path(d) / name).exists()]
        libraries |= {found[0], *_needed(root, found[0], library_path)} if found else set()
    for library in libraries:
        shutil.copy2(library.resolve(), out / "lib" / library.name)
    shutil.copy2((root / "lib64/ld-linux-x86-64.so.2").resolve(), out / LOADER)
    for program in programs:
        has_loader = subprocess.run(["patchelf", "--print-interpreter", str(program)], capture_output=True).returncode == 0
        relocate = ["--set-interpreter", PLACEHOLDER] if has_loader else []
        subprocess.run(["patchelf", *relocate, "--force-rpath", "--set-rpath", f"$ORIGIN/{os.path.relpath(out / 'lib', program.parent)}", str(program)], check=True)


def _needed(root: Path, binary: Path, library_path: str) -> set[Path]:
    """The libraries `binary` loads, as the root's own loader resolves them."""
    listed = subprocess.run([str(root / "lib64/ld-linux-x86-64.so.2"), "--library-path", library_path, "--list", str(binary.resolve())],
                            capture_output=True, text=True)  # fmt: skip
    return {Path(found) for found in re.findall(r"=> (\S+) \(", listed.stdout) if found.startswith(str(root))}


def _tar(directory: Path) -> bytes:
    """A gzipped tarball with sorted members and no dates or owners: the same files, the same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.rglob("*")):
            info = tar.gettarinfo(str(path), str(path.relative_to(directory)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with path.open("rb") as file:
                    tar.addfile(info, file)
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def offer(tarball: Path, builder_root: Path, owner: str | None = None) -> None:
    """Put the tarball where a site's builder finds it: its recipe in ROOT/recipes.d, the file in
    ROOT/distfiles (as a site's people would, for nodes with no way out)."""
    stage(tarball.with_suffix("").with_suffix(".json"), builder_root, "recipes.d", "htcondor.json", owner)
    stage(tarball, builder_root, "distfiles", owner=owner)

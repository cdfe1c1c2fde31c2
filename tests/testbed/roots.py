"""Debian roots of the test bed's own: debootstrap from the archive apt already uses here, packages
installed inside, kept in the clone's cache under a key of what they hold, and made beside their
final place and renamed into it, so a half-made root is never taken for one. The HTCondor pool's
submit host (Debian 13) and the bare compute node (Debian 12) are such roots.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.testbed import alive

SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def mirror() -> str:
    """The Debian archive apt already uses here (its deb822 sources)."""
    text = SOURCES.read_text() if SOURCES.exists() else ""
    found = re.search(r"^URIs:\s*(\S+)", text, re.M)
    return found[1] if found else "http://deb.debian.org/debian"


def private(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """`argv` in a mount namespace of its own: what it mounts goes away with it."""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", *argv], **kwargs)


def debian_root(cache: Path, name: str, suite: str, packages: Sequence[str], *, sources: str = "", made: str) -> Path:
    """`suite`'s minimal root with `packages` (apt reading `sources` when given, a deb822 file,
    else the suite alone from `mirror()`): the cached one when `made` (a path inside) exists,
    else made afresh. Its name is `name` and a key of the packages and sources."""
    key = hashlib.sha256((" ".join(packages) + sources).encode()).hexdigest()[:8]
    final = cache / f"{name}-{key}"
    if (final / made).exists():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(f".{name}-building-*"):
        if not alive(int(stale.name.rsplit("-", 1)[1])):
            shutil.rmtree(stale, ignore_errors=True)
    building = cache / f".{name}-building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    done = subprocess.run(["debootstrap", "--variant=minbase", suite, str(building), mirror()], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap of {suite} from {mirror()} failed: {(done.stderr or done.stdout)[-2000:]}")
    if sources:
        (building / "etc/apt/sources.list").unlink(missing_ok=True)
        (building / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    policy = building / "usr/sbin/policy-rc.d"  # no service starts while packages install
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    install = (
        'mount -t proc proc "$1/proc" && chroot "$1" apt-get update -qq'
        f' && chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {" ".join(packages)}'
        ' && chroot "$1" apt-get clean'
    )
    done = private("sh", "-c", install, "sh", str(building), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(packages)} did not install in the {suite} root from {mirror()}: {done.stderr[-2000:]}")
    building.rename(final)
    return final

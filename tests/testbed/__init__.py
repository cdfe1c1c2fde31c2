"""The test bed the suite starts itself: sshd, SLURM, SGE, HTCondor, and hosts in namespaces."""

from __future__ import annotations

import os
import shutil


def root_with(why: str, *binaries: str) -> str | None:
    """Why a test bed that needs root (for `why`) and `binaries` cannot run here; None if it can."""
    if os.geteuid() != 0:
        return f"{why} needs root"
    for binary in binaries:
        if shutil.which(binary) is None:
            return f"{binary} is missing: run tests/testbed/install-packages as root"
    return None


def alive(pid: int) -> bool:
    """Whether a process `pid` exists (a test bed sweeps what dead runs left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0

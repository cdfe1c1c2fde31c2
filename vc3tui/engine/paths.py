"""Where vc3tui keeps things: platformdirs by default, all of it under VC3TUI_HOME when set.

Shipped files (builder, themes) live inside the wheel under `vc3tui/_shipped/`; in a source
checkout they are the top-level `builder/` and `themes/` folders.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "vc3tui"
HOME_VARIABLE = "VC3TUI_HOME"


@dataclass(frozen=True)
class Dirs:
    """The three per-user directories; created 0700 on first use because they hold keys."""

    config: Path
    data: Path
    cache: Path

    @classmethod
    def from_environment(cls) -> "Dirs":
        home = os.environ.get(HOME_VARIABLE)
        if home:
            root = Path(home).expanduser().resolve()
            return cls(config=root / "config", data=root / "data", cache=root / "cache")
        return cls(
            config=Path(platformdirs.user_config_dir(APP_NAME)),
            data=Path(platformdirs.user_data_dir(APP_NAME)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME)),
        )

    def ensure(self) -> "Dirs":
        for path in (self.config, self.data, self.cache):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_mode & 0o077:
                path.chmod(0o700)  # made before, or by hand, wider: it holds keys and secrets
        return self

    @property
    def database(self) -> Path:
        return self.data / "vc3tui.sqlite3"

    @property
    def user_resources(self) -> Path:
        return self.config / "resources.toml"



def shipped_dir(name: str) -> Path:
    """The installed copy of a shipped folder (`builder` or `themes`), else the checkout's."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_shipped" / name
    if installed.is_dir():
        return installed
    checkout = package.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"vc3tui is missing its {name}/ folder (looked in {installed} and {checkout}); reinstall vc3tui")


NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "afs", "panfs", "fuse.sshfs", "9p"}
)


def filesystem_type(path: Path, mountinfo: str | None = None) -> str:
    """The type of the filesystem holding `path`, from /proc/self/mountinfo (longest mount prefix)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return "unknown"
    target = str(path.resolve())
    best, best_type = "", "unknown"
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, right.split()[0]
    return best_type


def write_whole(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a file whole or not at all (a temporary beside it, then renamed over it): a reader,
    or a crash, never sees half of it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def create_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a file that must not exist yet (a private key): never over another."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def update_file(path: Path, change: Callable[[str | None], str | None], mode: int = 0o600) -> None:
    """Read-modify-write a file of the user's under an exclusive lock (a `.NAME.lock` beside it),
    written whole: two vc3tui processes changing it at once each keep the other's change.
    `change` gets the text (None: no file yet) and returns the new text, or None to leave it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            text = path.read_text() if path.exists() else None
            new = change(text)
            if new is not None:
                write_whole(path, new.encode(), mode)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

"""The resource catalog: shipped site profiles, this machine (`local`), and the user's own file.

The user's `resources.toml` is written with tomlkit, so comments and layout they added survive
every `resource add` or edit; the user's entries override shipped ones of the same name.
"""

from __future__ import annotations

import functools
import os
import shutil
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import Field

from vc3tui.engine.models import Allocation, BatchKind, Name, NodeShape, Resource, Strict
from vc3tui.engine.paths import update_file
from vc3tui.engine.states import AllocationState
from vc3tui.engine.tomlfile import KeyLines, read_toml, validate_file

LOCAL = "local"


@functools.cache
def local_allocation() -> Allocation:
    """This machine as an allocation, always there. Constant and known valid (a test validates it),
    so it is constructed unvalidated: a first view of an empty home then builds no validator."""
    return Allocation.model_construct(name=LOCAL, resource=LOCAL, state=AllocationState.READY, reason="this machine, always available")


class ResourceFile(Strict):
    """The shape of the shipped catalog and of the user's resources.toml."""

    resources: dict[Name, Resource] = Field(default_factory=dict)


@dataclass
class Catalog:
    resources: dict[str, Resource] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Resource | None:
        return self.resources.get(name)

    def sorted(self, *, retired: bool = False) -> list[Resource]:
        """`local` first, then by name; retired sites only when asked for."""
        shown = [r for r in self.resources.values() if retired or r.retired is None]
        return sorted(shown, key=lambda r: (r.name != LOCAL, r.name))


class CatalogFiles:
    """The catalog as this installation has it: read when first asked for, and again after each
    change to the user's resources.toml."""

    def __init__(self, user_file: Path, scratch: Path) -> None:
        self.user_file = user_file
        self.scratch = scratch
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog(self.user_file, scratch=self.scratch)
        return self._catalog

    def has_user_resources(self) -> bool:
        """Whether the user has added a site of their own, read from their file alone (cheap: the
        first view asks, before anyone needs the whole catalog); an unreadable file counts as none."""
        try:
            return bool(tomllib.loads(self.user_file.read_text()).get("resources")) if self.user_file.exists() else False
        except (OSError, tomllib.TOMLDecodeError):
            return False

    def save(self, resource: Resource) -> None:
        """Add or replace a resource in the user's file."""
        save_user_resource(self.user_file, resource)
        self._catalog = None

    def remove(self, name: str) -> bool:
        """Remove a user resource (shipped ones cannot be); False when it was not the user's."""
        removed = remove_user_resource(self.user_file, name)
        self._catalog = None
        return removed


def load_catalog(user_file: Path | None = None, *, scratch: Path | None = None) -> Catalog:
    """Shipped profiles, then `local` measured now, then the user's file on top."""
    catalog = Catalog()
    shipped = files("vc3tui.engine").joinpath("catalog.toml").read_text()
    for name, resource in _parse(shipped, Path("catalog.toml")).items():
        catalog.resources[name], catalog.origin[name] = resource, "shipped"
    catalog.resources[LOCAL], catalog.origin[LOCAL] = local_resource(scratch), "measured"
    if user_file is not None and user_file.exists():
        data, lines = read_toml(user_file, "resources")
        for name, resource in _validate(data, user_file, lines).items():
            catalog.resources[name], catalog.origin[name] = resource, "user"
    return catalog


def _parse(text: str, path: Path) -> dict[str, Resource]:
    return _validate(tomllib.loads(text), path, KeyLines(text))


def _validate(data: dict[str, Any], path: Path, lines: KeyLines) -> dict[str, Resource]:
    tables = data.get("resources")
    if isinstance(tables, dict):
        data = {**data, "resources": {n: {**t, "name": n} if isinstance(t, dict) else t for n, t in tables.items()}}
    return validate_file(ResourceFile, data, path, lines).resources


def local_resource(scratch: Path | None = None) -> Resource:
    """This machine, measured at run time, with the fork batch system."""
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    disk_mb = shutil.disk_usage(scratch or Path.home()).free // 2**20
    return Resource(
        name=LOCAL,
        display_name="This machine",
        organization="you",
        description=f"{os.uname().nodename}: pilots run as local processes",
        batch=BatchKind.FORK,
        node=NodeShape(cores=os.cpu_count() or 1, memory_mb=max(memory_mb, 1), disk_mb=max(disk_mb, 1)),
        native_os=_native_os(),
        scratch_dir=str(scratch) if scratch else None,
        poll_interval=2,
    )


def _native_os() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return os.uname().sysname.lower()
    info = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    dist = info.get("ID", "linux").strip('"')
    version = info.get("VERSION_ID", "").strip('"')
    return f"{dist}:{version}" if version else dist


def save_user_resource(user_file: Path, resource: Resource) -> None:
    """Add or replace one resource in the user's file, keeping everything else they wrote."""

    def change(text: str | None) -> str:
        import tomlkit  # keeps comments and layout; only a change needs it, not reading

        document = tomlkit.parse(text) if text is not None else tomlkit.document()
        tables = document.setdefault("resources", tomlkit.table(is_super_table=True))
        body = resource.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
        table = tomlkit.table()
        for key, value in body.items():
            if isinstance(value, dict):
                inline = tomlkit.inline_table()
                inline.update(value)
                value = inline
            table[key] = value
        tables[resource.name] = table
        return tomlkit.dumps(document)

    update_file(user_file, change)


def remove_user_resource(user_file: Path, name: str) -> bool:
    removed = False

    def change(text: str | None) -> str | None:
        import tomlkit  # keeps comments and layout; only a change needs it, not reading

        nonlocal removed
        document = tomlkit.parse(text or "")
        tables = document.get("resources", {})
        if name not in tables:
            return None
        del tables[name]
        removed = True
        return tomlkit.dumps(document)

    update_file(user_file, change)
    return removed

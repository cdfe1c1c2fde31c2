"""What can go wrong with the store, said as one true line: a row this version cannot read is
named with the command that removes it (instead of stopping every command that lists its
table), and SQLite's errors say the real cause (read-only, locked, full, not a store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.tomlfile import validation_summary

M = TypeVar("M", bound=BaseModel)


class StoreError(VC3Error):
    """The database cannot be used as it is; the message says what to do."""


def database_problem(exc: sqlite3.Error, path: Path) -> StoreError:
    """SQLite's error as the cause a person can act on."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        cause = f"it is read-only here; check who may write it and {path.parent} (ls -ld)"
    elif "locked" in text or "busy" in text:
        cause = "another vc3tui process held it locked for over 10 s; try again (`fuser` on the file shows who)"
    elif "full" in text:
        cause = "the disk is full; free some space on it and try again"
    elif "unable to open" in text:
        cause = f"it cannot be opened; check that {path.parent} exists and that you may write it"
    elif "not a database" in text or "malformed" in text:
        cause = f"it is not a vc3tui store or it is damaged ({exc}); move it aside to start afresh"
    else:
        cause = f"{exc}; check the disk and the file's permissions"
    return StoreError(f"{path}: cannot use the store: {cause}")


def parsed(model: type[M], data: str, what: str, repair: str) -> M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise StoreError(f"the store's {what} cannot be read ({validation_summary(exc)}); {repair}") from None


def readable_json(model: type[BaseModel], data: str) -> bool:
    try:
        model.model_validate_json(data)
    except ValidationError:
        return False
    return True


def allocation_repair(name: str) -> tuple[str, str]:
    return f"allocation {name}", f"`vc3tui allocation delete {name}` removes it"


def cluster_repair(cluster_id: str, name: str) -> tuple[str, str]:
    return f"cluster {name} ({cluster_id})", f"`vc3tui cluster forget {cluster_id}` removes it (its pilots end by their walltime)"

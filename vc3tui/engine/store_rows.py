"""Rows as the store holds them, read back as models: a row this version cannot read is named,
with the command that removes it, instead of stopping every command that lists its table."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.tomlfile import validation_summary

M = TypeVar("M", bound=BaseModel)


class StoreError(VC3Error):
    """The database cannot be used as it is; the message says what to do."""


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

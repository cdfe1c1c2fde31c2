"""The vc3tui engine: a plain asyncio library with no UI import, used by the TUI and the headless
runner. This is its one public face: front ends import from here, never from a submodule.

Names are loaded when first used (PEP 562), so `from vc3tui.engine import VC3Error` costs the
errors module alone, and a command that needs no site imports no SSH.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Engine": "engine", "ClusterRow": "engine",
    "VC3Error": "errors",
    "Allocation": "models", "AllocationUse": "models", "Blueprint": "models", "Cluster": "models", "Environment": "models",
    "Event": "models", "Member": "models", "Project": "models", "Resource": "models", "NodeShape": "models", "StageResult": "models",
    "BatchKind": "kinds", "MiddlewareKind": "kinds", "HeadPlacement": "kinds",
    "AllocationState": "states", "ClusterState": "states", "PilotStage": "states", "PilotState": "states",
    "Question": "questions", "QuestionChannel": "questions", "QuestionKind": "questions", "Terminal": "interfaces", "PilotLine": "store",
    "BlueprintValues": "blueprint", "blueprint_toml": "blueprint", "software_summary": "software", "summary_lines": "projects",
    "LOCAL": "catalog", "MAX_WORKERS": "fields", "WorkerCount": "fields", "checked": "fields",
    "format_duration": "durations", "parse_duration": "durations", "whole_number": "numbers", "shipped_dir": "paths",
    "printable": "text", "printable_lines": "text", "ClusterCounts": "counts", "SiteCounts": "counts", "relay_port_name": "placement",
}  # fmt: skip

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'vc3tui.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vc3tui.engine.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from vc3tui.engine.blueprint import BlueprintValues, blueprint_toml
    from vc3tui.engine.catalog import LOCAL
    from vc3tui.engine.counts import ClusterCounts, SiteCounts
    from vc3tui.engine.durations import format_duration, parse_duration
    from vc3tui.engine.engine import ClusterRow, Engine
    from vc3tui.engine.errors import VC3Error
    from vc3tui.engine.fields import MAX_WORKERS, WorkerCount, checked
    from vc3tui.engine.interfaces import Terminal
    from vc3tui.engine.kinds import BatchKind, HeadPlacement, MiddlewareKind
    from vc3tui.engine.models import (
        Allocation, AllocationUse, Blueprint, Cluster, Environment, Event, Member, NodeShape, Project, Resource, StageResult,
    )  # fmt: skip
    from vc3tui.engine.numbers import whole_number
    from vc3tui.engine.paths import shipped_dir
    from vc3tui.engine.placement import relay_port_name
    from vc3tui.engine.projects import summary_lines
    from vc3tui.engine.questions import Question, QuestionChannel, QuestionKind
    from vc3tui.engine.software import software_summary
    from vc3tui.engine.states import AllocationState, ClusterState, PilotStage, PilotState
    from vc3tui.engine.store import PilotLine
    from vc3tui.engine.text import printable, printable_lines

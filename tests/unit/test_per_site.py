"""The cluster view's per-site lines: each allocation's pilots, and the path its workers take to
the head when it is a relay on their login node."""

from __future__ import annotations

from vc3tui.engine.models import AllocationUse, Head
from vc3tui.engine.store import PilotLine
from vc3tui.screens.cluster import per_site

from tests.factories import cluster


def line(index: int, allocation: str, state: str) -> PilotLine:
    return PilotLine(f"t{index}", index, allocation, None, state, None, "", 0.0, None, None, None)


def test_one_site_without_a_relay_needs_no_lines() -> None:
    assert per_site(cluster(), [line(0, "local", "running")]) == []


def test_two_sites_each_get_a_line_and_a_relay_says_so() -> None:
    made = cluster()
    made.blueprint = made.blueprint.model_copy(update={"allocations": [AllocationUse(name="a"), AllocationUse(name="b")]})
    made.head = Head(address="laptop:9123", ports={"manager": 9200, "relay-a": 40001})
    lines = per_site(made, [line(0, "a", "running"), line(1, "a", "queued"), line(2, "b", "running"), line(3, "b", "failed")])
    assert lines == [
        "  a: 1 running, 1 queued; workers reach the head through its login node (relay port 40001)",
        "  b: 1 running, 0 queued",
    ]

"""Spreading new pilots over allocations: weights, caps, and moving away from backed-off sites."""

from __future__ import annotations

from vc3tui.engine.models import AllocationUse
from vc3tui.engine.spread import spread


def uses(*spec) -> list[AllocationUse]:
    return [AllocationUse(name=n, weight=w, max_pilots=c) for n, w, c in spec]


def test_even_by_default() -> None:
    assert spread(10, uses(("a", 1, None), ("b", 1, None)), {}) == {"a": 5, "b": 5}


def test_weights_and_existing_pilots() -> None:
    assert spread(12, uses(("a", 3, None), ("b", 1, None)), {"a": 6}) == {"a": 3, "b": 3}


def test_caps_move_the_rest_elsewhere() -> None:
    assert spread(10, uses(("a", 1, 2), ("b", 1, None)), {}) == {"a": 2, "b": 8}
    assert spread(10, uses(("a", 1, 2), ("b", 1, 3)), {}) == {"a": 2, "b": 3}


def test_backed_off_allocation_gets_nothing_while_others_can() -> None:
    assert spread(6, uses(("a", 1, None), ("b", 1, None)), {}, avoid={"a"}) == {"b": 6}
    assert spread(4, uses(("a", 1, None),), {}, avoid={"a"}) == {"a": 4}


def test_nothing_when_at_or_above_target() -> None:
    assert spread(2, uses(("a", 1, None),), {"a": 3}) == {}

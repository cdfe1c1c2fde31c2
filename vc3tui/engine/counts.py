"""The numbers every view shows for a cluster, in total and per allocation, from one grouped query
of its pilots."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from vc3tui.engine.fields import Tally
from vc3tui.engine.models import Strict
from vc3tui.engine.states import PilotState

COUNTED_AS = {
    PilotState.RUNNING: "running", PilotState.DRAINING: "running", PilotState.QUEUED: "queued", PilotState.INTENT: "queued",
    PilotState.FAILED: "error", PilotState.HELD: "error", PilotState.UNKNOWN: "unknown",
}  # fmt: skip
"""The count a pilot in each live or failed state adds to."""


class SiteCounts(Strict):
    """One allocation's pilots in a cluster; unknown: its site did not answer (a link down)."""

    running: Tally = 0
    queued: Tally = 0
    error: Tally = 0
    joined: Tally = 0
    unknown: Tally = 0


class ClusterCounts(Strict):
    """The numbers every view shows: error counts failed and held pilots; joined counts running
    pilots whose worker the middleware reports; `sites` the same per allocation."""

    requested: Tally = 0
    running: Tally = 0
    queued: Tally = 0
    error: Tally = 0
    joined: Tally = 0
    sites: dict[str, SiteCounts] = Field(default_factory=dict)


def cluster_counts(requested: int, groups: Iterable[tuple[str, str, int, int]]) -> ClusterCounts:
    """From (allocation, state, worker joined, count) groups of the cluster's pilots."""
    sites: dict[str, dict[str, int]] = {}
    for allocation, state, joined, count in groups:
        counted = sites.setdefault(allocation, dict.fromkeys(SiteCounts.model_fields, 0))
        if (column := COUNTED_AS.get(state)) is not None:
            counted[column] += count
        if joined and state in (PilotState.RUNNING, PilotState.DRAINING):
            counted["joined"] += count
    totals = {column: sum(site[column] for site in sites.values()) for column in ("running", "queued", "error", "joined")}
    return ClusterCounts(requested=requested, sites={allocation: SiteCounts(**counted) for allocation, counted in sites.items()}, **totals)

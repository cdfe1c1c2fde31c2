"""Per-site counts: one grouped query of a cluster's pilots gives the totals and each allocation's;
the cluster view's per-site lines say each site's pilots, a site that does not answer, and the
path its workers take to the head when it is a relay on their login node."""

from __future__ import annotations

from vc3tui.engine.counts import ClusterCounts, SiteCounts, cluster_counts
from vc3tui.engine.models import AllocationUse, Head
from vc3tui.screens.cluster import per_site

from tests.factories import cluster


def test_counts_add_up_per_site_and_in_total() -> None:
    counts = cluster_counts(6, [("a", "running", 1, 2), ("a", "draining", 0, 1), ("a", "intent", 0, 1), ("b", "unknown", 0, 3), ("b", "held", 0, 1), ("b", "done", 0, 4)])
    assert (counts.requested, counts.running, counts.queued, counts.error, counts.joined) == (6, 3, 1, 1, 2)
    assert counts.sites == {"a": SiteCounts(running=3, queued=1, joined=2), "b": SiteCounts(error=1, unknown=3)}


def test_one_site_without_a_relay_needs_no_lines() -> None:
    assert per_site(cluster(), ClusterCounts(running=1, sites={"local": SiteCounts(running=1)})) == []


def test_two_sites_each_get_a_line_and_a_relay_and_a_silent_site_say_so() -> None:
    made = cluster()
    made.blueprint = made.blueprint.model_copy(update={"allocations": [AllocationUse(name="a"), AllocationUse(name="b"), AllocationUse(name="c")]})
    made.head = Head(address="laptop:9123", ports={"manager": 9200, "relay-a": 40001})
    counts = ClusterCounts(sites={"a": SiteCounts(running=1, queued=1), "b": SiteCounts(running=1, unknown=2)})
    assert per_site(made, counts) == [
        "  a: 1 running, 1 queued; workers reach the head through a's login node (relay port 40001)",
        "  b: 1 running, 0 queued, 2 unknown (the site does not answer)",
        "  c: 0 running, 0 queued",
    ]

"""How many new pilots each allocation gets: by weight, within caps, away from backed-off ones."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from vc3tui.engine.models import AllocationUse


def spread(
    total: int,
    uses: Sequence[AllocationUse],
    live: Mapping[str, int],
    *,
    caps: Mapping[str, int | None] | None = None,
    avoid: Collection[str] = (),
) -> dict[str, int]:
    """New pilots per allocation so that the live total reaches `total`.

    Each allocation's ideal share is `total * weight / sum(weights)`; new pilots go one at a time
    to the allocation furthest below its share that still has room. Allocations in `avoid`
    (backed off) get nothing while any other can take a pilot; their share moves to the rest.
    """
    caps = caps or {}
    missing = total - sum(live.get(u.name, 0) for u in uses)
    added = {u.name: 0 for u in uses}
    if missing <= 0:
        return {}
    usable = [u for u in uses if u.name not in avoid] or list(uses)
    weight = sum(u.weight for u in usable)

    def room(use: AllocationUse) -> bool:
        cap = min((c for c in (use.max_pilots, caps.get(use.name)) if c is not None), default=None)
        return cap is None or live.get(use.name, 0) + added[use.name] < cap

    for _ in range(missing):
        candidates = [u for u in usable if room(u)]
        if not candidates:
            break
        best = max(
            candidates,
            key=lambda u: (total * u.weight / weight - live.get(u.name, 0) - added[u.name], u.weight, -uses.index(u)),
        )
        added[best.name] += 1
    return {name: n for name, n in added.items() if n}

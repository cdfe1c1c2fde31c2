"""What the factory, the head and the manager gate work with: the engine's parts they need,
handed over by name, so none of them depends on the Engine itself."""

from __future__ import annotations

from dataclasses import dataclass

from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.events import EventBus
from vc3tui.engine.lease import Lease
from vc3tui.engine.models import Cluster, Event
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.sites import Sites
from vc3tui.engine.states import ClusterState
from vc3tui.engine.store import CycleWrites


@dataclass(frozen=True)
class Services:
    store: AsyncStore
    bus: EventBus
    lease: Lease
    sites: Sites
    redactor: Redactor
    installation_id: str


class Changes:
    """A cycle's changes, kept until they are committed in one write: the clusters and pilots that
    changed and the events that say why."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.writes = CycleWrites()

    def move(self, cluster: Cluster, state: ClusterState, reason: str) -> None:
        cluster.move(state, reason)
        self.writes.clusters.append(cluster)
        self.event(cluster, "state", f"{state}: {reason}")

    def event(self, cluster: Cluster, kind: str, message: str) -> None:
        self.writes.events.append(Event(cluster_id=cluster.id, kind=kind, message=message))

    async def commit(self) -> None:
        writes, self.writes = self.writes, CycleWrites()
        if writes:
            writes.clusters = list({id(c): c for c in writes.clusters}.values())
            writes.pilots = list({p.tag: p for p in writes.pilots}.values())
            await self.bus.commit(writes)

    async def publish(self, cluster: Cluster, kind: str, message: str) -> None:
        """An event said now, not at the end of the cycle."""
        self.event(cluster, kind, message)
        await self.commit()

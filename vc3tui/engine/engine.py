"""The Engine facade: the one object the TUI and the headless runner call.

It owns the store, the catalog and the question channel; later parts (executors, batch systems,
middleware, the factory) hang off it without changing what callers see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vc3tui.engine.blueprint import load_blueprint
from vc3tui.engine.catalog import LOCAL_ALLOCATION, Catalog, load_catalog
from vc3tui.engine.models import Allocation, Blueprint, Cluster, ClusterCounts
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import QuestionChannel
from vc3tui.engine.store import AsyncStore, Store


@dataclass(frozen=True)
class ClusterRow:
    """What a list of clusters shows for one cluster."""

    cluster: Cluster
    counts: ClusterCounts


class Engine:
    def __init__(self, dirs: Dirs | None = None, *, interactive: bool = True) -> None:
        self.dirs = (dirs or Dirs.from_environment()).ensure()
        self.store = AsyncStore(self.dirs.database)
        self.questions = QuestionChannel(interactive=interactive)
        self._catalog: Catalog | None = None

    @property
    def installation_id(self) -> str:
        return self.store.store.installation_id

    @property
    def warnings(self) -> list[str]:
        return list(self.store.store.warnings)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog(self.dirs.user_resources, scratch=self.dirs.cache)
        return self._catalog

    async def close(self) -> None:
        await self.store.close()

    async def allocations(self) -> list[Allocation]:
        stored = await self.store.run(Store.allocations)
        return [LOCAL_ALLOCATION, *(a for a in stored if a.name != LOCAL_ALLOCATION.name)]

    async def load_blueprint(self, path: Path) -> Blueprint:
        """Read and check a blueprint against this installation's allocations and environments."""
        allocations = {a.name for a in await self.allocations()}
        environments = {e.name for e in await self.store.run(Store.environments) if e.name}
        return load_blueprint(path, allocations=allocations, environments=environments)

    async def cluster_rows(self, *, include_terminated: bool = True) -> list[ClusterRow]:
        def rows(store: Store) -> list[ClusterRow]:
            return [
                ClusterRow(cluster, store.counts(cluster.id))
                for cluster in store.clusters(include_terminated=include_terminated)
            ]

        return await self.store.run(rows)

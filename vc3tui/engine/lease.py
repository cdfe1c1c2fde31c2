"""One process manages a cluster at a time: a lease in the store, renewed every cycle. Any
process may write a desired size; the holder carries it out."""

from __future__ import annotations

import os

from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.numbers import whole_number
from vc3tui.engine.store import Store

LEASE_TTL = 30.0


class Lease:
    def __init__(self, store: AsyncStore, owner: str) -> None:
        self.store = store
        self.owner = owner

    async def renew(self, cluster_id: str) -> bool:
        """Take or keep the cluster's lease; a holder that is a dead process on this host loses it."""
        holder = await self.store.run(Store.lease_holder, cluster_id)
        replace = holder if holder and holder_is_dead(holder) else None
        return await self.store.run(Store.acquire_lease, cluster_id, self.owner, LEASE_TTL, replace=replace)

    async def release(self, cluster_id: str) -> None:
        await self.store.run(Store.release_lease, cluster_id, self.owner)


def holder_is_dead(holder: str) -> bool:
    """A lease held by a process on this host that no longer exists can be taken at once."""
    host, _, pid = holder.rpartition(":")
    if host != os.uname().nodename or whole_number(pid) is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

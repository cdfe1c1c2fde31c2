"""The manager gate: pilots whose manager is the user's own program start their worker once it listens.

Pilots are submitted while the head starts, so on a quick queue they run before the user's manager
(a Work Queue entry point) listens, and a cctools worker that finds nobody sleeps two seconds, then
four, up to a minute. Such pilots wait instead for a file that the engine writes into the cluster's
dir on their site as soon as it sees the manager's port listening on the head host, in its
/proc/net/tcp: a look at the port itself would be a connection that the manager logs as a worker
with the wrong password. A pilot waits at most GATE_WAIT seconds, then starts its worker as it
would have: a gate that never opens costs that, and nothing else.

Only where the engine sees the head host's sockets (a head on this machine or on a login host,
not one that is a batch job) and the site's compute nodes see its files.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.models import Cluster

if TYPE_CHECKING:
    from vc3tui.engine.engine import Engine
    from vc3tui.engine.factory import Site

GATE_FILE = "manager-listening"
GATE_WAIT = 10
"""Seconds a pilot waits for the gate before starting its worker anyway."""
FAST_POLL, FAST_FOR, SLOW_POLL = 0.05, 30.0, 2.0
"""Looks at the head this often while an entry point is starting, then at a user's own pace."""
LISTEN = "0A"
"""The LISTEN state in /proc/net/tcp."""


def listening_ports(tables: str) -> set[int]:
    """The ports some socket listens on, from /proc/net/tcp and /proc/net/tcp6 text."""
    ports = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == LISTEN and ":" in fields[1]:
            try:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return ports


class ManagerGate:
    """One cluster's gate: closed until its manager listens, for the sites that had pilots wait."""

    def __init__(self, engine: Engine, middleware: Middleware) -> None:
        self.engine = engine
        self.middleware = middleware
        self.open = False
        self._waiting: dict[str, Site] = {}
        self._watch: asyncio.Task[None] | None = None

    def environment(self, cluster: Cluster, site: Site) -> dict[str, str]:
        """What a pilot submitted now to `site` needs to wait at the gate (nothing once it is open)."""
        head = cluster.head
        if self.open or not self.middleware.entry_is_manager or head is None or head.external or head.job_id or not site.shared_filesystem:
            return {}
        return {"VC3_MANAGER_GATE": f"{site.workdir}/{GATE_FILE}", "VC3_MANAGER_WAIT": str(GATE_WAIT)}

    def watch(self, cluster: Cluster, site: Site) -> None:
        """Pilots now wait at `site`: open its gate too once the manager listens."""
        self._waiting[site.workdir] = site
        if self._watch is None:
            self._watch = asyncio.create_task(self._open_when_listening(cluster))

    async def _open_when_listening(self, cluster: Cluster) -> None:
        head = self.engine.head_site(cluster)
        port = int(self.middleware.join_address(cluster.head).rsplit(":", 1)[1])
        started = time.monotonic()
        while True:
            try:
                tables = await head.executor.run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=30)
                if port in listening_ports(tables.stdout):
                    break
            except Exception:  # a lost connection: the factory reports it; look again later
                pass
            await asyncio.sleep(FAST_POLL if time.monotonic() - started < FAST_FOR else SLOW_POLL)
        self.open = True  # from here on pilots start at once, so no site joins the list below
        for site in self._waiting.values():
            try:
                await site.executor.put(b"", f"{site.workdir}/{GATE_FILE}")
            except Exception:  # its pilots wait GATE_WAIT, then start anyway
                continue

    async def close(self) -> None:
        if self._watch:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

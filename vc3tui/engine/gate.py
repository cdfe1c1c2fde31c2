"""The manager gate: pilots whose manager is the user's own program start their worker once it listens.

Pilots are submitted while the head starts, so on a quick queue they run before the user's manager
(a Work Queue entry point) listens, and a cctools worker that finds nobody sleeps two seconds, then
four, up to a minute. Such pilots wait instead for a file that the engine writes into the cluster's
dir on their site as soon as the manager's port listens on the head host. A small Python waiter
there (WAIT_FOR_LISTENER) looks at the kernel's listening sockets every hundredth of a second,
reading only the head of /proc/net/tcp, where the listeners are listed first: a look at the port
itself would be a connection that the manager logs as a worker with the wrong password, and the
whole table walks every connection on a busy login node. A pilot waits at most GATE_WAIT seconds,
then starts its worker as it would have: a gate that never opens costs that, and nothing else.

Only where the engine sees the head host's sockets (a head on this machine or on a login host,
not one that is a batch job) and the site's compute nodes see its files.
"""

from __future__ import annotations

import asyncio

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.models import Cluster
from vc3tui.engine.site import Site
from vc3tui.engine.sites import Sites

GATE_FILE = "manager-listening"
GATE_WAIT = 10
"""Seconds a pilot waits for the gate before starting its worker anyway."""
FAST_POLL, FAST_FOR, SLOW_POLL = 0.01, 30.0, 2.0
"""The waiter looks this often for this long while an entry point is starting; then one look at a
user's own pace. A waiter whose cluster ended meanwhile (its SSH channel closed) ends by FAST_FOR."""
TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
NOT_YET = 3
"""The waiter's exit status when the port did not listen in its time."""

# Started as `python -c WAIT_FOR_LISTENER PORT SECONDS EVERY TABLE...`: exits 0 once a socket
# listens on PORT, NOT_YET after SECONDS. Reads each table a KB at a time up to its first line that
# is neither a listener (0A) nor, on kernels before 4.4, one of a listener's half-open requests
# (03): the kernel makes only the lines read, and the listeners come first. Python 3.6 and stdlib.
WAIT_FOR_LISTENER = """\
import os, sys, time
port = (":%04X" % int(sys.argv[1])).encode()
seconds, every, tables = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
def listening(table):
    try:
        fd = os.open(table, os.O_RDONLY)
    except OSError:
        return False
    try:
        rest, header = b"", True
        while True:
            chunk = os.read(fd, 1024)
            if not chunk:
                return False
            lines = (rest + chunk).split(b"\\n")
            rest = lines.pop()
            for line in lines:
                fields = line.split()
                if header or len(fields) < 4:
                    header = False
                    continue
                if fields[3] == b"0A" and fields[1].endswith(port):
                    return True
                if fields[3] not in (b"0A", b"03"):
                    return False
    finally:
        os.close(fd)
deadline = time.monotonic() + seconds
while not any(listening(table) for table in tables):
    if time.monotonic() >= deadline:
        sys.exit(NOT_YET)
    time.sleep(every)
""".replace("NOT_YET", str(NOT_YET))


class ManagerGate:
    """One cluster's gate: closed until its manager listens, for the sites that had pilots wait."""

    def __init__(self, sites: Sites, middleware: Middleware) -> None:
        self.sites = sites
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
        self._waiting[site.allocation] = site
        if self._watch is None:
            self._watch = asyncio.create_task(self._open_when_listening(cluster))

    async def _open_when_listening(self, cluster: Cluster) -> None:
        head = self.sites.head_site(cluster)
        port = int(self.middleware.join_address(cluster.head).rsplit(":", 1)[1])
        seconds, every = FAST_FOR, FAST_POLL
        while not await self._listens(head, port, seconds, every):
            seconds, every = 0.0, SLOW_POLL
            await asyncio.sleep(SLOW_POLL)
        self.open = True  # from here on pilots start at once, so no site joins the list below
        for site in self._waiting.values():
            try:
                await site.executor.put(b"", f"{site.workdir}/{GATE_FILE}")
            except Exception:  # its pilots wait GATE_WAIT, then start anyway
                continue

    @staticmethod
    async def _listens(head: Site, port: int, seconds: float, every: float) -> bool:
        """Whether `port` listens on the head host within `seconds` (false on any failure: no
        python there, or a lost connection, which the factory reports; the caller looks again)."""
        argv = [head.executor.python, "-c", WAIT_FOR_LISTENER, str(port), str(seconds), str(every), *TABLES]
        try:
            return (await head.executor.run(argv, timeout=seconds + 30)).ok
        except Exception:
            return False

    async def close(self) -> None:
        if self._watch:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

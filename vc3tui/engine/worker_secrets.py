"""The secrets workers need (a password file, TLS files, a token), made on the head and copied
to every site that runs pilots, 0600 in the cluster's secrets dir, before the first submission."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.models import Cluster
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.sites import Sites


class WorkerSecrets:
    def __init__(self, sites: Sites, redactor: Redactor, middleware: Middleware) -> None:
        self.sites = sites
        self.redactor = redactor
        self.middleware = middleware
        self._copies: dict[str, asyncio.Task[None]] = {}  # allocation -> its copy
        self._copied: dict[str, set[str]] = {}  # allocation -> the secrets its site has from the head

    async def close(self) -> None:
        for task in self._copies.values():
            task.cancel()
        await asyncio.gather(*self._copies.values(), return_exceptions=True)

    async def on_head(self, cluster: Cluster) -> dict[str, bytes]:
        """The secrets as the head keeps them (redacted from here on); those this cluster's
        manager did not make are absent (e.g. Dask on loopback has no TLS)."""
        head = self.sites.head_site(cluster)
        found = {}
        for name in self.middleware.worker_secrets:
            try:
                found[name] = await head.executor.get(f"{head.workdir}/secrets/{name}")
            except OSError:
                continue
            self.redactor.add(found[name])
        return found

    async def take(self, cluster: Cluster, folder: Path) -> None:
        """An external head's worker secrets (head.secrets, on this machine) go where a head's
        own would be, so they reach every site the same way."""
        head = self.sites.head_site(cluster)
        await head.executor.run(["mkdir", "-p", "-m", "700", f"{head.workdir}/secrets"])
        for name in self.middleware.worker_secrets:
            if (folder / name).is_file():
                content = (folder / name).read_bytes()
                self.redactor.add(content)
                await head.executor.put(content, f"{head.workdir}/secrets/{name}", mode=0o600)

    def copy(self, cluster: Cluster, allocation: str, *, located: bool = False) -> asyncio.Task[None]:
        """The copy to an allocation's site: started once (by the head's start, so the first
        submission finds it done), and again after one that failed, or, once the manager is
        `located`, after one that found only some of them (an HTCondor head mints its workers'
        token as it starts)."""
        copy = self._copies.get(allocation)
        partial = located and copy is not None and copy.done() and self._copied.get(allocation, set()) != set(self.middleware.worker_secrets)
        if copy is None or partial or (copy.done() and (copy.cancelled() or copy.exception())):
            copy = self._copies[allocation] = asyncio.create_task(self._copy(cluster, allocation))
            copy.add_done_callback(lambda task: task.cancelled() or task.exception())  # seen at submission
        return copy

    async def _copy(self, cluster: Cluster, allocation: str) -> None:
        site, head = self.sites.site(cluster, allocation), self.sites.head_site(cluster)
        if not self.middleware.worker_secrets or site.workdir == head.workdir:
            self._copied[allocation] = set(self.middleware.worker_secrets)  # nothing to copy: none is missing
            return
        found = await self.on_head(cluster)
        self._copied[allocation] = set(found)
        if found:
            await site.executor.run(["mkdir", "-p", "-m", "700", f"{site.workdir}/secrets"])
        for name, content in found.items():
            await site.executor.put(content, f"{site.workdir}/secrets/{name}", mode=0o600)

"""Middleware `none`: no manager; every pilot runs the blueprint's `workers.command`.

A worker counts as joined once its command started. With no manager to drain through, a
peaceful removal stops the pilot with SIGTERM, which the command may catch to finish cleanly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vc3tui.engine.interfaces import Executor, HeadAddress, HeadLaunch, HeadLink, WorkerInfo
from vc3tui.engine.models import Cluster, Head, MiddlewareKind


class PlainCommand:
    kind = MiddlewareKind.NONE
    has_manager = False
    entry_is_manager = False
    ends_idle_workers = False
    joined_line = None
    worker_secrets: tuple[str, ...] = ()

    def head_launch(self, cluster: Cluster, workdir: str, listen_host: str) -> HeadLaunch:
        raise TypeError("middleware 'none' has no manager to launch")

    async def locate(self, executor: Executor, workdir: str, host: str) -> HeadAddress | None:
        return None

    def external(self, address: str) -> HeadAddress:
        raise ValueError("middleware 'none' has no manager, so there is no external one to join")

    def join_address(self, head: Head) -> str:
        raise TypeError("middleware 'none' has no manager to join")

    def ticket_needed(self, head: Head) -> bool:
        return False

    async def ready(self, executor: Executor, head: Head) -> bool:
        return True

    def worker_command(self, cluster: Cluster, head: Head | None, tag: str, secrets_dir: str) -> list[str]:
        return list(cluster.blueprint.workers.command or [])

    async def workers(self, executor: Executor, head: Head) -> list[WorkerInfo]:
        return []

    async def demand(self, executor: Executor, cluster: Cluster) -> int:
        return 0

    async def held(self, executor: Executor, cluster: Cluster) -> Sequence[str]:
        return ()

    async def drain(self, executor: Executor, head: Head, tags: Sequence[str]) -> None:
        raise TypeError("middleware 'none' has no manager to drain through")

    def secrets(self, cluster: Cluster, workdir: str, listen_host: str) -> Mapping[str, bytes]:
        return {}

    def client_environment(self, cluster: Cluster) -> Mapping[str, str]:
        return {}

    def links(self, head: Head) -> Sequence[HeadLink]:
        return []

"""Dask: `dask scheduler` on the head, `dask worker` in each pilot.

Everything the engine learns comes from the scheduler itself, over its HTTP API bound to the head's
loopback: `/health` for readiness, `/api/v1/get_workers` for who joined (workers are named by pilot
tag), `/api/v1/adaptive_target` for demand, `/api/v1/retire_workers` to drain (a retired worker
hands its data over and its process exits 0). Beyond loopback the scheduler speaks TLS with a CA
made for the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import httpx

from vc3tui.engine.interfaces import Executor, HeadAddress, HeadLaunch, HeadLink, WorkerInfo, count_in_reply
from vc3tui.engine.middleware import http
from vc3tui.engine.middleware.ports import reserving_port
from vc3tui.engine.models import Cluster, Head, MiddlewareKind
from vc3tui.engine.pilot import pilot_lifetime
from vc3tui.engine.tls import TLS_FILES, make_cluster_tls, needs_tls

SCHEDULER_FILE = "scheduler.json"
PORT_FILE = "scheduler.port"
HTTP_ROUTES = '["distributed.http.scheduler.api", "distributed.http.health"]'
DEATH_TIMEOUT_MARGIN = 60
DRAIN_TIMEOUT = 600


class DaskMiddleware:
    kind = MiddlewareKind.DASK
    has_manager = True
    entry_is_manager = False
    ends_idle_workers = False
    joined_line = None
    worker_secrets = TLS_FILES

    def head_launch(self, cluster: Cluster, workdir: str, listen_host: str) -> HeadLaunch:
        # the port is picked before the scheduler starts, so pilots can be queued meanwhile
        scheduler = [
            "sh", "-c", 'exec dask scheduler --port "$(cat "$0")" "$@"', f"{workdir}/{PORT_FILE}",
            "--host", listen_host,
            "--dashboard-address", "127.0.0.1:0",
            "--scheduler-file", f"{workdir}/{SCHEDULER_FILE}",
        ]  # fmt: skip
        if needs_tls(listen_host):
            scheduler += ["--protocol", "tls", *_tls_options(f"{workdir}/secrets")]
        # a notebook beside the scheduler (head.jupyter) finds it through VC3_DASK_SCHEDULER_FILE
        env = {"DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": HTTP_ROUTES, "VC3_DASK_SCHEDULER_FILE": f"{workdir}/{SCHEDULER_FILE}"}
        return HeadLaunch(argv=reserving_port(f"{workdir}/{PORT_FILE}", listen_host, scheduler), env=env)

    async def locate(self, executor: Executor, workdir: str, host: str) -> HeadAddress | None:
        """The address as soon as the port is picked; the HTTP API's port once the scheduler runs."""
        try:
            port = int((await executor.get(f"{workdir}/{PORT_FILE}")).decode().strip())
        except (OSError, ValueError):
            return None
        scheme = "tls" if needs_tls(host) else "tcp"  # the scheduler speaks TLS unless on loopback
        try:
            ports = {"http": int(json.loads(await executor.get(f"{workdir}/{SCHEDULER_FILE}"))["services"]["dashboard"])}
        except (OSError, ValueError, KeyError, TypeError):
            ports = {}
        return HeadAddress(address=f"{scheme}://{host}:{port}", ports=ports)

    def external(self, address: str) -> HeadAddress:
        """tcp:// or tls:// (whose certificates come with head.secrets)."""
        scheme, sep, rest = address.partition("://")
        if not sep:
            scheme, rest = "tcp", address
        if scheme not in ("tcp", "tls"):
            raise ValueError(f"{address}: an external Dask scheduler is reached over tcp:// or tls://, not {scheme}://")
        host, _, port = rest.partition(":")
        return HeadAddress(address=f"{scheme}://{host}:{port or 8786}", ports={})

    def join_address(self, head: Head) -> str:
        return head.address

    def ticket_needed(self, head: Head) -> bool:
        return head.address.startswith("tls://")

    async def ready(self, executor: Executor, head: Head) -> bool:
        if "http" not in head.ports:
            return False
        try:
            return (await self._get(executor, head, "/health")).text.strip() == "ok"
        except httpx.HTTPError:
            return False

    def worker_command(self, cluster: Cluster, head: Head, tag: str, secrets_dir: str) -> list[str]:
        workers = cluster.blueprint.workers
        argv = [
            "dask", "worker", head.address,
            "--name", tag,
            "--nthreads", str(workers.cores),
            "--memory-limit", f"{workers.memory_mb}MB",
            "--lifetime", f"{max(1, pilot_lifetime(workers.walltime) - 30)}s",
            "--no-dashboard",
        ]  # fmt: skip
        if workers.head_timeout:
            # the pilot monitor ends the pilot first; this is the worker's own backstop
            argv += ["--death-timeout", str(workers.head_timeout + DEATH_TIMEOUT_MARGIN)]
        if head.address.startswith("tls://"):
            argv += _tls_options(secrets_dir)
        if "//127.0.0.1:" in head.address:
            argv += ["--host", "127.0.0.1"]
        return argv

    async def workers(self, executor: Executor, head: Head) -> list[WorkerInfo]:
        return parse_dask_workers((await self._get(executor, head, "/api/v1/get_workers")).json())

    async def demand(self, executor: Executor, cluster: Cluster) -> int:
        reply = (await self._get(executor, cluster.head, "/api/v1/adaptive_target")).json()
        return count_in_reply(reply.get("workers") if isinstance(reply, dict) else reply, "the scheduler's adaptive target")

    async def held(self, executor: Executor, cluster: Cluster) -> Sequence[str]:
        return ()

    async def drain(self, executor: Executor, head: Head, tags: Sequence[str]) -> None:
        wanted = set(tags)
        addresses = [w.address for w in await self.workers(executor, head) if w.tag in wanted]
        if addresses:
            host, port = await executor.forward("127.0.0.1", head.ports["http"])
            async with http.client(DRAIN_TIMEOUT) as client:
                reply = await client.post(f"http://{host}:{port}/api/v1/retire_workers", json={"workers": addresses})
                reply.raise_for_status()

    def secrets(self, cluster: Cluster, workdir: str, listen_host: str) -> Mapping[str, bytes]:
        return make_cluster_tls(cluster.name) if needs_tls(listen_host) else {}

    def client_environment(self, cluster: Cluster) -> Mapping[str, str]:
        head = cluster.head
        if head is None:
            return {}
        env = {"DASK_SCHEDULER_ADDRESS": head.address}
        if head.address.startswith("tls://"):
            ca, cert, key = (f"{head.workdir}/secrets/{name}" for name in TLS_FILES)
            env |= {
                "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": ca,
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": cert,
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": key,
                "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            }
        return env

    def links(self, head: Head) -> Sequence[HeadLink]:
        dashboard = [HeadLink("dashboard", "http", "127.0.0.1", head.ports["http"], "/status")] if "http" in head.ports else []
        return [HeadLink.of_address("scheduler", head.address), *dashboard]

    async def _get(self, executor: Executor, head: Head, path: str) -> httpx.Response:
        host, port = await executor.forward("127.0.0.1", head.ports["http"])
        async with http.client(5) as client:
            reply = await client.get(f"http://{host}:{port}{path}")
            reply.raise_for_status()
            return reply


def parse_dask_workers(reply: object) -> list[WorkerInfo]:
    """The scheduler's get_workers reply; a reply of another shape is a one-line ValueError."""
    workers = reply.get("workers") if isinstance(reply, dict) else None
    if not isinstance(workers, list):
        raise ValueError("the scheduler's worker list is not {'workers': [...]}")
    found = []
    for worker in workers:
        if isinstance(worker, dict) and isinstance(worker.get("name"), (str, int)) and isinstance(worker.get("address"), str):
            name = str(worker["name"])
            found.append(WorkerInfo(name=name, tag=name if name.startswith("vc3-") else None, address=worker["address"]))
    return found


def _tls_options(secrets_dir: str) -> list[str]:
    ca, cert, key = (f"{secrets_dir}/{name}" for name in TLS_FILES)
    return ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]

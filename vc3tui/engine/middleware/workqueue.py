"""Work Queue (cctools): a private catalog server on the head; the manager is the user's own
program (Makeflow, a Python manager) started as the entry point or from the head's shell.

Nothing reports to the public catalog: the head's catalog server listens on the head's address
and sends its own updates to loopback, and managers are given `CATALOG_HOST`. The manager listens
on the port the head reserved for it (`VC3_WQ_PORT`) and names itself with the cluster's project
(`VC3_WQ_PROJECT`); workers connect to that port and prove themselves with the cluster's password
file (`VC3_WQ_PASSWORD_FILE`), which never appears on a command line.

Demand is the manager's own report to the catalog (tasks waiting and running, refreshed about
once a minute). Work Queue cannot list its workers by name to an outside program when it has a
password, so a pilot's monitor marks it joined when its worker logs its connection.

Peaceful drain: Work Queue offers no way to stop one worker taking tasks without the manager's
help, and its own drain and block calls match hostnames, which pilots on one node share. So a
drained pilot is left alone: its worker finishes every task it is given and exits 0 once the
manager has had nothing for it for `workers.idle_timeout`; no task is ever cut short.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

import httpx

from vc3tui.engine.interfaces import Executor, HeadAddress, HeadLaunch, HeadLink, WorkerInfo, count_in_reply
from vc3tui.engine.middleware import http
from vc3tui.engine.middleware.ports import reserving_port
from vc3tui.engine.models import Cluster, Head, MiddlewareKind
from vc3tui.engine.pilot import pilot_lifetime

PASSWORD_FILE = "wq-password"
PORT_FILE = "catalog.port"
MANAGER_PORT_FILE = "manager.port"
JOINED_LINE = "connected to manager"


def project_name(cluster: Cluster) -> str:
    return f"vc3-{cluster.id}"


def manager_host(head: Head) -> str:
    """The head's host as workers reach it (the catalog and the manager share it)."""
    return head.address.rsplit(":", 1)[0]


class WorkQueueMiddleware:
    kind = MiddlewareKind.WORKQUEUE
    has_manager = True
    entry_is_manager = True
    ends_idle_workers = True
    joined_line = JOINED_LINE
    worker_secrets = (PASSWORD_FILE,)

    def head_launch(self, cluster: Cluster, workdir: str, listen_host: str) -> HeadLaunch:
        catalog = ["catalog_server", "--port-file", f"{workdir}/{PORT_FILE}", "--update-host", "127.0.0.1:9"]
        if listen_host != "0.0.0.0":
            catalog += ["--interface", listen_host]
        # the manager's port, picked now: workers connect to it directly, since cctools 9.9 workers
        # that look a manager up by name connect to every address of its host, and crash when
        # asked to prefer its hostname
        return HeadLaunch(argv=reserving_port(f"{workdir}/{MANAGER_PORT_FILE}", listen_host, catalog))

    async def locate(self, executor: Executor, workdir: str, host: str) -> HeadAddress | None:
        try:
            port = int((await executor.get(f"{workdir}/{PORT_FILE}")).decode().strip())
            manager = int((await executor.get(f"{workdir}/{MANAGER_PORT_FILE}")).decode().strip())
        except (OSError, ValueError):
            return None
        return HeadAddress(address=f"{host}:{port}", ports={"http": port, "manager": manager})

    def external(self, address: str) -> HeadAddress:
        """A running manager at HOST[:PORT] (default 9123); its own password file, if any, is not ours."""
        host, _, port = address.rpartition("://")[2].partition(":")
        return HeadAddress(address=f"{host}:{port or 9123}", ports={"manager": int(port or 9123)})

    def join_address(self, head: Head) -> str:
        """The manager's own port: the catalog at head.address is the head's, not the workers'."""
        return f"{manager_host(head)}:{head.ports['manager']}"

    def ticket_needed(self, head: Head) -> bool:
        return True

    async def ready(self, executor: Executor, head: Head) -> bool:
        try:
            await self._records(executor, head)
            return True
        except (httpx.HTTPError, ValueError):
            return False

    def worker_command(self, cluster: Cluster, head: Head, tag: str, secrets_dir: str) -> list[str]:
        workers = cluster.blueprint.workers
        argv = ["work_queue_worker"]
        if head.secrets:
            argv += ["--password", f"{secrets_dir}/{PASSWORD_FILE}"]
        argv += [
            "--cores", str(workers.cores),
            "--memory", str(workers.memory_mb),
            "--disk", str(workers.disk_mb),
            "--wall-time", str(max(1, pilot_lifetime(workers.walltime) - 30)),
            "--workdir", ".",
        ]  # fmt: skip
        if workers.idle_timeout:
            argv += ["--timeout", str(workers.idle_timeout)]  # no task, or no manager to give one: both idle
        return [*argv, manager_host(head), str(head.ports["manager"])]

    async def workers(self, executor: Executor, head: Head) -> list[WorkerInfo]:
        return []

    async def demand(self, executor: Executor, cluster: Cluster) -> int:
        """Workers the manager could use: its waiting and running tasks, one core each."""
        return wq_demand(await self._records(executor, cluster.head), project_name(cluster), cluster.blueprint.workers.cores)

    async def held(self, executor: Executor, cluster: Cluster) -> Sequence[str]:
        return ()

    async def drain(self, executor: Executor, head: Head, tags: Sequence[str]) -> None:
        """Nothing to ask the manager: a drained worker ends itself once it has no task (see above)."""

    def secrets(self, cluster: Cluster, workdir: str, listen_host: str) -> Mapping[str, bytes]:
        return {PASSWORD_FILE: secrets.token_hex(32).encode()}

    def client_environment(self, cluster: Cluster) -> Mapping[str, str]:
        head = cluster.head
        if head is None or not head.address:
            return {}
        if head.external:
            return {"VC3_WQ_MANAGER": head.address}
        return {
            "VC3_WQ_PROJECT": project_name(cluster),
            "VC3_WQ_PORT": str(head.ports["manager"]),
            "VC3_WQ_CATALOG": head.address,
            "VC3_WQ_PASSWORD_FILE": f"{head.workdir}/secrets/{PASSWORD_FILE}",
            "CATALOG_HOST": head.address,
        }

    def links(self, head: Head) -> Sequence[HeadLink]:
        """The catalog the head runs (its status page), and the manager's port once your manager listens there."""
        if head.external:
            return [HeadLink.of_address("manager", head.address)]
        return [HeadLink("status", "http", manager_host(head), head.ports["http"], "/"), HeadLink("manager", "", manager_host(head), head.ports["manager"])]

    async def _records(self, executor: Executor, head: Head) -> list[dict]:
        host, port = await executor.forward(manager_host(head), head.ports["http"])
        async with http.client(5) as client:
            reply = await client.get(f"http://{host}:{port}/query.json")
            reply.raise_for_status()
            return catalog_records(reply.json())


def catalog_records(reply: object) -> list[dict]:
    """The catalog's query.json reply: a list of records (anything else in it is skipped)."""
    if not isinstance(reply, list):
        raise ValueError("the catalog did not answer with a list")
    return [record for record in reply if isinstance(record, dict)]


def wq_demand(records: list[dict], project: str, cores: int) -> int:
    """Workers for a manager's waiting and running tasks, as it reports them to the catalog."""
    tasks = sum(
        max(0, count_in_reply(record.get("tasks_waiting", 0), "tasks_waiting")) + max(0, count_in_reply(record.get("tasks_on_workers", 0), "tasks_on_workers"))
        for record in records
        if record.get("type") == "wq_master" and record.get("project") == project
    )
    return -(-tasks // cores)

"""Spark standalone: the master on the head, `spark-class ...deploy.worker.Worker` in each pilot.

pyspark from PyPI is the environment (it carries `spark-class` and the jars; Java 17 comes from the
site). Master, workers and the user's driver authenticate with a secret made for the cluster
(`spark.authenticate`), kept 0600 in `spark-defaults.conf` in the secrets dir: the daemons read it
as their properties file, drivers through `SPARK_CONF_DIR`, so it is never on a command line.
The master's web UI binds to the head's listen address and is read (its `/json/` status) through
the engine's executor, over an SSH-forwarded port when the head is on a site.

Workers cannot be named after their pilots, so a pilot counts as joined when its worker logs its
registration. Demand is the cores the master's applications use plus those waiting applications
ask for. Spark offers no drain an outside program can aim at one worker on a shared host (its
decommission endpoint matches hostnames), so a shrink cancels workers; Spark reruns the lost
tasks from their lineage.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence

import httpx

from vc3tui.engine.interfaces import Executor, HeadAddress, HeadLaunch, HeadLink, WorkerInfo, count_in_reply
from vc3tui.engine.middleware import http
from vc3tui.engine.models import Cluster, Head, MiddlewareKind

CONF_FILE = "spark-defaults.conf"
MASTER_LOG = "spark-master.log"
JOINED_LINE = "Successfully registered with master"
STARTED = re.compile(r"Successfully started service '(sparkMaster|MasterUI)' on port (\d+)")
UNLIMITED_CORES = 2**31 - 1


def spark_conf(secret: str) -> bytes:
    return (
        "spark.authenticate true\n"
        f"spark.authenticate.secret {secret}\n"
        "spark.master.rest.enabled false\n"
        "spark.ui.killEnabled false\n"
        "spark.ui.showConsoleProgress false\n"
    ).encode()


class SparkMiddleware:
    kind = MiddlewareKind.SPARK
    has_manager = True
    entry_is_manager = False
    ends_idle_workers = False
    joined_line = JOINED_LINE
    worker_secrets = (CONF_FILE,)

    def head_launch(self, cluster: Cluster, workdir: str, listen_host: str) -> HeadLaunch:
        master = [
            "spark-class", "org.apache.spark.deploy.master.Master",
            "--host", listen_host, "--port", "0", "--webui-port", "0",
            "--properties-file", f"{workdir}/secrets/{CONF_FILE}",
        ]  # fmt: skip
        env = {} if listen_host == "0.0.0.0" else {"SPARK_LOCAL_IP": listen_host}
        return HeadLaunch(argv=["sh", "-c", 'exec "$@" > "$0" 2>&1', f"{workdir}/{MASTER_LOG}", *master], env=env)

    async def locate(self, executor: Executor, workdir: str, host: str) -> HeadAddress | None:
        try:
            log = (await executor.get(f"{workdir}/{MASTER_LOG}")).decode(errors="replace")
        except OSError:
            return None
        ports = {name: int(port) for name, port in STARTED.findall(log)}
        if len(ports) < 2:
            return None
        return HeadAddress(address=f"spark://{host}:{ports['sparkMaster']}", ports={"http": ports["MasterUI"]})

    def external(self, address: str) -> HeadAddress:
        host, _, port = address.rpartition("://")[2].partition(":")
        return HeadAddress(address=f"spark://{host}:{port or 7077}", ports={})

    def join_address(self, head: Head) -> str:
        return head.address

    def ticket_needed(self, head: Head) -> bool:
        return True

    async def ready(self, executor: Executor, head: Head) -> bool:
        try:
            return _status_object(await self._status(executor, head)).get("status") == "ALIVE"
        except (httpx.HTTPError, ValueError):
            return False

    def worker_command(self, cluster: Cluster, head: Head, tag: str, secrets_dir: str) -> list[str]:
        workers = cluster.blueprint.workers
        argv = [
            "spark-class", "org.apache.spark.deploy.worker.Worker", head.address,
            "--cores", str(workers.cores),
            "--memory", f"{workers.memory_mb}m",
            "--work-dir", ".",
            "--webui-port", "0",
        ]  # fmt: skip
        if head.secrets:
            argv += ["--properties-file", f"{secrets_dir}/{CONF_FILE}"]
        if "//127.0.0.1:" in head.address:
            argv += ["--host", "127.0.0.1"]
        return argv

    async def workers(self, executor: Executor, head: Head) -> list[WorkerInfo]:
        return alive_workers(await self._status(executor, head))

    async def demand(self, executor: Executor, cluster: Cluster) -> int:
        return spark_demand(await self._status(executor, cluster.head), cluster.blueprint.workers.cores)

    async def held(self, executor: Executor, cluster: Cluster) -> Sequence[str]:
        return ()

    async def drain(self, executor: Executor, head: Head, tags: Sequence[str]) -> None:
        raise NotImplementedError("Spark cannot drain one worker among several on a host; cancelling (Spark reruns their tasks)")

    def secrets(self, cluster: Cluster, workdir: str, listen_host: str) -> Mapping[str, bytes]:
        return {CONF_FILE: spark_conf(secrets.token_hex(32))}

    def client_environment(self, cluster: Cluster) -> Mapping[str, str]:
        head = cluster.head
        if head is None or not head.address:
            return {}
        env = {"VC3_SPARK_MASTER": head.address}
        if not head.external:
            env["SPARK_CONF_DIR"] = f"{head.workdir}/secrets"
        return env

    def links(self, head: Head) -> Sequence[HeadLink]:
        master = HeadLink.of_address("master", head.address)
        return [master, *([HeadLink("dashboard", "http", master.host, head.ports["http"])] if "http" in head.ports else [])]

    async def _status(self, executor: Executor, head: Head) -> object:
        host, port = await executor.forward(HeadLink.of_address("master", head.address).host, head.ports["http"])
        async with http.client(5) as client:
            reply = await client.get(f"http://{host}:{port}/json/")
            reply.raise_for_status()
            return reply.json()


def _status_object(status: object) -> dict:
    if not isinstance(status, dict):
        raise ValueError("the Spark master did not answer with an object")
    return status


def alive_workers(status: object) -> list[WorkerInfo]:
    """The master's /json/ reply -> its ALIVE workers."""
    workers = _status_object(status).get("workers", [])
    return [
        WorkerInfo(name=str(w.get("id")), tag=None, address=f"{w.get('host')}:{w.get('port')}")
        for w in (workers if isinstance(workers, list) else [])
        if isinstance(w, dict) and w.get("state") == "ALIVE"
    ]


def spark_demand(status: object, per_worker: int) -> int:
    """Workers for the cores in use plus what waiting applications ask for (one worker each
    when they set no spark.cores.max)."""
    status = _status_object(status)
    cores = count_in_reply(status.get("coresused", 0), "the master's coresused")
    extra_workers = 0
    apps = status.get("activeapps", [])
    for app in apps if isinstance(apps, list) else []:
        if not isinstance(app, dict) or app.get("state") != "WAITING":
            continue
        wanted = count_in_reply(app.get("cores", UNLIMITED_CORES), "a waiting application's cores")
        if wanted >= UNLIMITED_CORES:
            extra_workers += 1
        else:
            cores += max(0, wanted)
    return -(-max(0, cores) // per_worker) + extra_workers

"""The head node: started where the blueprint places it, watched, found again after a restart, stopped.

`local` runs it detached on this machine; `allocation` runs it detached on that allocation's login
host (a session leader holding no SSH channel, so it outlives our connection), or, with
`batch_job`, as a one-task batch job there, for sites that end long processes on login nodes.
Every placement runs the manager through the pilot wrapper, so the head leaves the same markers as
a pilot (host, stage, exit) in `pilots/<head tag>/`, and its identity (allocation, login host, the
node's hostname, pid or job id, ports) is stored before anything waits on it. `external` is a
manager someone else runs: there is nothing to start, watch or stop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vc3tui.engine.batch.wrapper import Markers, kill_groups_script, parse_probe, render_probe, render_wrapper
from vc3tui.engine.interfaces import Middleware, PilotShape, Submission
from vc3tui.engine.middleware.jupyter import TOKEN_FILE, new_token, with_jupyter
from vc3tui.engine.models import Cluster, Head, HeadPlacement, Pilot
from vc3tui.engine.states import PilotStage, PilotState

if TYPE_CHECKING:
    from vc3tui.engine.engine import Engine
    from vc3tui.engine.site import Site

STOP_GRACE = 10.0
ALIVE = (PilotState.QUEUED, PilotState.RUNNING, PilotState.HELD, PilotState.UNKNOWN)


@dataclass(frozen=True)
class HeadState:
    """The head as its markers (or its batch job) show it."""

    alive: bool
    stage: PilotStage | None = None
    exit_code: int | None = None
    host: str | None = None
    queued: bool = False
    reason: str = ""


class HeadNode:
    def __init__(self, engine: Engine, middleware: Middleware) -> None:
        self.engine = engine
        self.middleware = middleware

    def tag(self, cluster: Cluster) -> str:
        """Shaped like a pilot's tag (its own prefix, index 0), so batch systems track it like one."""
        return f"vc3-{self.engine.installation_id}-{cluster.id}head-0"

    def dir(self, cluster: Cluster) -> str:
        return f"{self.engine.head_site(cluster).workdir}/pilots/{self.tag(cluster)}"

    def _as_pilot(self, cluster: Cluster, site: Site) -> Pilot:
        job_id = cluster.head.job_id if cluster.head else None
        return Pilot(cluster_id=cluster.id, allocation=site.allocation, index=0, tag=self.tag(cluster), job_id=job_id)

    async def start(self, cluster: Cluster) -> Head:
        """Start the manager (or find the one a crashed engine started) and say where it is."""
        spec = cluster.blueprint.head
        site = self.engine.head_site(cluster)
        allocation = spec.allocation if spec.placement is HeadPlacement.ALLOCATION else None
        head = Head(allocation=allocation, host=site.host, workdir=site.workdir, started_at=time.time())
        if spec.batch_job:
            found = (await site.batch.status(site.executor, [self._as_pilot(cluster, site)], site.workdir)).get(self.tag(cluster))
            if found and found.state in ALIVE and found.job_id:
                head.job_id = found.job_id  # submitted by an engine that died before it could say so
                return head
        else:
            markers = await self._markers(cluster, site, None)
            if markers.alive:
                head.pid = markers.pid
                return head
        argv, env = await self._prepare(cluster, site)
        if spec.batch_job:
            head.job_id = await self._submit(cluster, site, argv, env)
        else:
            head.pid = await self._spawn(cluster, site, argv, env)
        return head

    async def _prepare(self, cluster: Cluster, site: Site) -> tuple[list[str], dict[str, str]]:
        """Write the manager's secrets (0600) on the head's site; return its command and environment."""
        listen_host = self.engine.listen_host(cluster)
        secrets_dir = f"{site.workdir}/secrets"
        await site.executor.run(["mkdir", "-p", "-m", "700", secrets_dir, f"{site.workdir}/pilots"])
        for name, content in self.middleware.secrets(cluster, site.workdir, listen_host).items():
            self.engine.redactor.add(content)
            await site.executor.put(content, f"{secrets_dir}/{name}", mode=0o600)
        launch = self.middleware.head_launch(cluster, site.workdir, listen_host)
        argv = list(launch.argv)
        if cluster.blueprint.head.jupyter:
            token = new_token()
            self.engine.redactor.add(token)
            await site.executor.put(token, f"{secrets_dir}/{TOKEN_FILE}", mode=0o600)
            argv = with_jupyter(argv, secrets_dir, site.workdir)
        return argv, {**launch.env, **self.engine.cluster_environment(cluster)}

    async def _spawn(self, cluster: Cluster, site: Site, argv: list[str], env: dict[str, str]) -> int:
        builder = await self.engine.builder_command(cluster, site)
        script = render_wrapper(f"{site.workdir}/pilots", builder, argv, env, name="head.sh")
        await site.executor.put(script.encode(), f"{site.workdir}/head.sh", mode=0o700)
        head_dir = f"{site.workdir}/pilots/{self.tag(cluster)}"
        await site.executor.run(["mkdir", "-p", head_dir])
        return await site.executor.spawn(
            ["sh", f"{site.workdir}/head.sh", self.tag(cluster)], log_path=f"{head_dir}/pilot.log", pid_file=f"{head_dir}/pid"
        )

    async def _submit(self, cluster: Cluster, site: Site, argv: list[str], env: dict[str, str]) -> str:
        workers = cluster.blueprint.workers
        submission = Submission(
            pilots=[self._as_pilot(cluster, site)],
            shape=PilotShape(
                workers.cores, workers.memory_mb, workers.disk_mb, cluster.blueprint.head.walltime,
                site.partition, site.account, site.batch_options,
            ),  # fmt: skip
            workdir=site.workdir,
            builder=await self.engine.builder_command(cluster, site),
            command=argv,
            env=env,
        )
        return (await site.batch.submit(site.executor, submission))[self.tag(cluster)]

    async def state(self, cluster: Cluster) -> HeadState:
        if cluster.head is None or cluster.head.external:
            return HeadState(alive=True)
        site = self.engine.head_site(cluster)
        if cluster.head.job_id:
            status = (await site.batch.status(site.executor, [self._as_pilot(cluster, site)], site.workdir)).get(self.tag(cluster))
            if status is None:
                return HeadState(alive=False, reason=f"its batch job {cluster.head.job_id} is gone")
            host = cluster.head.hostname or None
            if status.state is PilotState.RUNNING and not host:
                # once: the node's own hostname, as the wrapper wrote it; a batch system's node
                # name (NodeName) need not be a name the node answers to
                host = (await self._markers(cluster, site, None)).host
            return HeadState(
                alive=status.state in ALIVE, stage=status.stage, exit_code=status.exit_code, host=host,
                queued=status.state is not PilotState.RUNNING, reason=status.reason,
            )  # fmt: skip
        markers = await self._markers(cluster, site, cluster.head.pid)
        return HeadState(alive=markers.alive, stage=markers.stage, exit_code=markers.exit_code, host=markers.host)

    async def _markers(self, cluster: Cluster, site: Site, pid: int | None) -> Markers:
        tag = self.tag(cluster)
        result = await site.executor.run_script(render_probe(f"{site.workdir}/pilots", {tag: pid}), timeout=30)
        return parse_probe(result.stdout).get(tag) or Markers(tag, exists=False)

    async def stop(self, cluster: Cluster) -> None:
        """TERM the head (its whole process group, or its batch job), KILL it after a grace period."""
        head = cluster.head
        if head is None or head.external or (head.pid is None and head.job_id is None):
            return
        site = self.engine.head_site(cluster)
        if head.job_id:
            await site.batch.cancel(site.executor, [self._as_pilot(cluster, site)])
        else:
            await site.executor.run_script(kill_groups_script("TERM", [head.pid]), timeout=30)
        deadline = time.monotonic() + STOP_GRACE
        while (await self.state(cluster)).alive:
            if time.monotonic() > deadline:
                if head.pid:
                    await site.executor.run_script(kill_groups_script("KILL", [head.pid]), timeout=30)
                break
            await asyncio.sleep(0.2)

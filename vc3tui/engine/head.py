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
from pathlib import Path

from vc3tui.engine.interfaces import Middleware, Submission
from vc3tui.engine.logs import log_tail
from vc3tui.engine.middleware import jupyter
from vc3tui.engine.models import Cluster, Head, HeadPlacement, Pilot
from vc3tui.engine.pilot import Markers, parse_probe, render_probe, render_wrapper
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.services import Changes, Services
from vc3tui.engine.shell import kill_groups_script
from vc3tui.engine.site import Site
from vc3tui.engine.sites import Sites, cluster_environment, each_once
from vc3tui.engine.software import SoftwareMissing, check_software
from vc3tui.engine.states import ClusterState, PilotStage, PilotState
from vc3tui.engine.worker_secrets import WorkerSecrets

STOP_GRACE = 10.0
BUILD_REPORT_EVERY = 1.0
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
    def __init__(self, sites: Sites, redactor: Redactor, installation_id: str, middleware: Middleware) -> None:
        self.sites = sites
        self.redactor = redactor
        self.installation_id = installation_id
        self.middleware = middleware

    def tag(self, cluster: Cluster) -> str:
        """Shaped like a pilot's tag (its own prefix, index 0), so batch systems track it like one."""
        return f"vc3-{self.installation_id}-{cluster.id}head-0"

    def dir(self, cluster: Cluster) -> str:
        return f"{self.sites.head_site(cluster).workdir}/pilots/{self.tag(cluster)}"

    def _as_pilot(self, cluster: Cluster, site: Site) -> Pilot:
        job_id = cluster.head.job_id if cluster.head else None
        return Pilot(cluster_id=cluster.id, allocation=site.allocation, index=0, tag=self.tag(cluster), job_id=job_id)

    async def start(self, cluster: Cluster) -> Head:
        """Start the manager (or find the one a crashed engine started) and say where it is."""
        spec = cluster.blueprint.head
        site = self.sites.head_site(cluster)
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
        listen_host = self.sites.listen_host(cluster)
        secrets_dir = f"{site.workdir}/secrets"
        await site.executor.run(["mkdir", "-p", "-m", "700", secrets_dir, f"{site.workdir}/pilots"])
        for name, content in self.middleware.secrets(cluster, site.workdir, listen_host).items():
            self.redactor.add(content)
            await site.executor.put(content, f"{secrets_dir}/{name}", mode=0o600)
        launch = self.middleware.head_launch(cluster, site.workdir, listen_host)
        argv = list(launch.argv)
        if cluster.blueprint.head.jupyter:
            argv = await jupyter.start(site.executor, secrets_dir, site.workdir, argv, self.redactor)
        return argv, {**launch.env, **cluster_environment(cluster)}

    async def _spawn(self, cluster: Cluster, site: Site, argv: list[str], env: dict[str, str]) -> int:
        builder = await self.sites.builder_command(cluster, site)
        script = render_wrapper(f"{site.workdir}/pilots", builder, argv, env, name="head.sh")
        await site.executor.put(script.encode(), f"{site.workdir}/head.sh", mode=0o700)
        head_dir = f"{site.workdir}/pilots/{self.tag(cluster)}"
        await site.executor.run(["mkdir", "-p", head_dir])
        return await site.executor.spawn(
            ["sh", f"{site.workdir}/head.sh", self.tag(cluster)], log_path=f"{head_dir}/pilot.log", pid_file=f"{head_dir}/pid"
        )

    async def _submit(self, cluster: Cluster, site: Site, argv: list[str], env: dict[str, str]) -> str:
        submission = Submission(
            pilots=[self._as_pilot(cluster, site)],
            shape=site.shape(cluster.blueprint.workers, cluster.blueprint.head.walltime),
            workdir=site.workdir,
            builder=await self.sites.builder_command(cluster, site),
            command=argv,
            env=env,
        )
        return (await site.batch.submit(site.executor, submission))[self.tag(cluster)]

    async def state(self, cluster: Cluster) -> HeadState:
        if cluster.head is None or cluster.head.external:
            return HeadState(alive=True)
        site = self.sites.head_site(cluster)
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
        site = self.sites.head_site(cluster)
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


def asks_manager(middleware: Middleware, cluster: Cluster) -> bool:
    """Whether there is a manager of ours to ask about workers, demand and draining."""
    return middleware.has_manager and not (cluster.head and cluster.head.external)


class HeadStart:
    """A cluster from new to running: the software checked on every site, the head started (or an
    external one taken as it is), its manager located and waited for, its build reported meanwhile."""

    def __init__(self, services: Services, middleware: Middleware, changes: Changes, head: HeadNode, secrets: WorkerSecrets) -> None:
        self.sites = services.sites
        self.middleware = middleware
        self.changes = changes
        self.head = head
        self.secrets = secrets
        self._building = ("", 0.0)  # what the head's environment builds, since when
        self._build_read = 0.0

    async def begin(self, cluster: Cluster) -> None:
        """Start the head (a new cluster), once every site can provide the environment and reach it."""
        if not await self._software_ready(cluster):
            return
        move = self.changes.move
        if not self.middleware.has_manager:
            move(cluster, ClusterState.STARTING_HEAD, "no manager to start")
            move(cluster, ClusterState.RUNNING, "no manager: every pilot runs the blueprint's command")
            return
        spec = cluster.blueprint.head
        middleware = cluster.blueprint.middleware
        if spec.placement is HeadPlacement.EXTERNAL:
            located = self.middleware.external(spec.address)
            if spec.secrets:
                await self.secrets.take(cluster, Path(spec.secrets).expanduser())
            cluster.head = Head(host="", external=True, secrets=bool(spec.secrets), address=located.address, ports=dict(located.ports), started_at=time.time())
            move(cluster, ClusterState.STARTING_HEAD, f"using the {middleware} manager at {located.address}")
            move(cluster, ClusterState.RUNNING, f"external {middleware} manager at {located.address}: adding workers to it, not managing it")
            return
        cluster.head = await self.head.start(cluster)
        for use in cluster.blueprint.allocations:  # while the manager starts
            self.secrets.copy(cluster, use.name)
        where = f"job {cluster.head.job_id}" if cluster.head.job_id else f"pid {cluster.head.pid}"
        on = f" on {spec.allocation} ({cluster.head.host})" if cluster.head.allocation else ""
        move(cluster, ClusterState.STARTING_HEAD, f"building the environment and starting the {middleware} manager{on} ({where})")

    async def _software_ready(self, cluster: Cluster) -> bool:
        """Ask the builder on every site (the head's too, when vc3tui starts it) whether it can
        provide the environment, before anything starts; fail the cluster when one cannot. A warm
        site answers from the activation it kept, without starting Python."""
        sites = self.sites.pilot_sites(cluster)
        if asks_manager(self.middleware, cluster) and cluster.blueprint.head.placement is not HeadPlacement.EXTERNAL:
            sites.append(self.sites.head_site(cluster))
        unique = each_once(sites)
        builders = [await self.sites.builder_command(cluster, site) for site in unique]
        plans = await asyncio.gather(
            *(check_software(site.executor, builder) for site, builder in zip(unique, builders)), return_exceptions=True
        )
        for site, plan in zip(unique, plans):
            where = self.sites.where(site)
            if isinstance(plan, SoftwareMissing):
                advice = "install it there, or name where it comes from in the environment"
                self.changes.move(cluster, ClusterState.FAILED, f"software missing on {where}: {plan}; {advice}; nothing was started")
                return False
            if isinstance(plan, BaseException):
                raise plan
            self.changes.event(cluster, "builder", f"software on {where}: {', '.join(map(str, plan)) or 'nothing to add'}")
        return True

    async def progress(self, cluster: Cluster) -> bool:
        """Watch a starting head: its build, then its manager's address and readiness. True the
        cycle the address is first known, when the first pilots can go out."""
        site = self.sites.head_site(cluster)
        state = await self.alive(cluster)
        if state is None or state.queued:
            return False
        if state.stage is PilotStage.BUILDING:
            await self._report_build(cluster, site)
            return False
        head = cluster.head
        if state.host and head.hostname != state.host:
            head.hostname = state.host
            self.changes.writes.clusters.append(cluster)
        if not head.hostname:
            return False
        located = await self.middleware.locate(site.executor, site.workdir, self.advertised_host(cluster))
        first = False
        if located:
            first = not head.address
            head.address, head.ports = located.address, {**head.ports, **located.ports}
            if first:
                for use in cluster.blueprint.allocations:
                    self.secrets.copy(cluster, use.name, located=True)
        if await self._ready(cluster, site):
            self.changes.move(cluster, ClusterState.RUNNING, f"{cluster.blueprint.middleware} manager ready at {head.address}")
        return first

    async def _ready(self, cluster: Cluster, site: Site) -> bool:
        """Whether the manager (and JupyterLab, when asked for) answers."""
        head = cluster.head
        if not head.address:
            return False
        if cluster.blueprint.head.jupyter and "jupyter" not in head.ports:
            where = await jupyter.discover(site.executor, head, f"{site.workdir}/secrets")
            if where is None:
                return False
            self.changes.event(cluster, "jupyter", where)
        return await self.middleware.ready(site.executor, head)

    async def _report_build(self, cluster: Cluster, site: Site) -> None:
        """While the head's environment builds (a cold one takes a while): what is being built,
        said once as an event, and for how long, in the cluster's reason (the live status line)."""
        now = time.monotonic()
        if now - self._build_read < BUILD_REPORT_EVERY:
            return
        self._build_read = now
        log = f"{self.head.dir(cluster)}/build.log"
        result = await site.executor.run(["sed", "-n", r"s/^Build: *\(.*\) in \/.*/\1/p", log], timeout=30)
        building = (result.stdout.strip().splitlines() or [""])[-1]
        if not building:
            return
        if building != self._building[0]:
            self._building = (building, now)
            self.changes.event(cluster, "head", f"building the environment: {building}")
        cluster.reason = f"building the environment: {building}, {now - self._building[1]:.0f} s"
        self.changes.writes.clusters.append(cluster)

    def advertised_host(self, cluster: Cluster) -> str:
        """The host workers are given: the listen address, or the head node's own name when it
        listens on every interface."""
        listen = self.sites.listen_host(cluster)
        return cluster.head.hostname if listen == "0.0.0.0" and cluster.head else listen

    async def alive(self, cluster: Cluster) -> HeadState | None:
        """The head's state while it lives; None after failing the cluster with the head's own last
        words as the reason."""
        state = await self.head.state(cluster)
        if state.alive:
            return state
        tail = await log_tail(self.sites.head_site(cluster), self.head.dir(cluster), state.stage)
        status = f"status {state.exit_code}" if state.exit_code is not None else state.reason or "no exit status"
        self.changes.move(cluster, ClusterState.FAILED, f"head exited ({status}) while {state.stage or 'starting'}: {tail}")
        return None

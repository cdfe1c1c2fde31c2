"""Validating an allocation in stages, each with a result, its duration and, on failure, a fix.

The stages follow what can go wrong, in order: the name resolves, the port answers, the host key
is one we trust, we get in, a command runs (a chatty login shell must not break parsing), home
and scratch are writable, a python3 for the builder exists, the batch commands are found, and
what the machine is. The first failure stops the run; the report says exactly where and why.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import time
from collections.abc import Awaitable, Callable

from vc3tui.engine.executors.ssh import SSHError, SSHExecutor
from vc3tui.engine.hostkeys import HostKeyError
from vc3tui.engine.batch import batch_system
from vc3tui.engine.interfaces import CommandFailed, Executor, PilotShape, Submission
from vc3tui.engine.models import BatchKind, Pilot, Reach, Resource, StageResult
from vc3tui.engine.tags import pilot_tag
from vc3tui.engine.questions import NoAnswer
from vc3tui.engine.numbers import whole_number

BATCH_COMMANDS = {
    BatchKind.FORK: ("sh",),
    BatchKind.SLURM: ("sbatch", "squeue", "scancel"),
    BatchKind.PBS: ("qsub", "qstat", "qdel"),
    BatchKind.TORQUE: ("qsub", "qstat", "qdel"),
    BatchKind.LSF: ("bsub", "bjobs", "bkill"),
    BatchKind.SGE: ("qsub", "qstat", "qdel"),
    BatchKind.CONDOR: ("condor_submit", "condor_q", "condor_rm"),
}
MIN_PYTHON = (3, 6)
TEST_JOB_TIMEOUT = 300.0
# Stands in the builder's place for the test job: nothing to build, an empty environment (--env-to).
NO_BUILDER = ["sh", "-c", 'while [ $# -gt 0 ]; do [ "$1" = --env-to ] && : > "$2"; shift; done; exit 0', "sh"]
PROBE = """\
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), 5) as probe:
            probe.settimeout(5)
            print(target, "answered" if probe.recv(16).startswith(b"vc3tui") else "closed")
    except OSError:
        print(target, "unreachable")
"""
"""On a compute node: for each HOST:PORT, `answered` (the whole path works), `closed` (the host
took the connection but nothing came back), or `unreachable`."""
ENV_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class StageFailed(Exception):
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


Stage = Callable[[], Awaitable[str]]


async def validate(
    resource: Resource,
    executor: Executor,
    on_stage: Callable[[StageResult], None] | None = None,
    *,
    account: str | None = None,
    installation_id: str = "000000000000",
) -> tuple[list[StageResult], Reach | None]:
    """Run the stages in order until one fails; every stage's result goes to `on_stage` as it ends.
    Returns the report and, on a site with compute nodes, what they reach."""
    checks = Checks(resource, executor, account, installation_id)
    stages: list[tuple[str, Stage]] = []
    if isinstance(executor, SSHExecutor):
        stages += [
            ("resolve host", checks.resolve),
            ("TCP connect", checks.tcp),
            ("host key", checks.host_key),
            ("authenticate", checks.authenticate),
        ]
    stages += [
        ("run a command", checks.command),
        ("home writable", checks.home),
        ("scratch writable", checks.scratch),
        ("python3", checks.python),
        ("batch commands", checks.batch),
        ("system", checks.system),
    ]
    if resource.batch is not BatchKind.FORK:
        stages.append(("test job", checks.test_job))
        if isinstance(executor, SSHExecutor):
            stages.append(("reachability", checks.reachability))
    report = []
    for name, stage in stages:
        started = time.monotonic()
        try:
            result = StageResult(stage=name, ok=True, detail=await stage())
        except StageFailed as exc:
            result = StageResult(stage=name, ok=False, detail=exc.detail, fix=exc.fix)
        except (SSHError, HostKeyError, NoAnswer, OSError) as exc:
            result = StageResult(stage=name, ok=False, detail=str(exc), fix=_fix_for(name))
        result.seconds = round(time.monotonic() - started, 3)
        report.append(result)
        if on_stage:
            on_stage(result)
        if not result.ok:
            break
    return report, checks.reach


def _fix_for(stage: str) -> str:
    return {
        "host key": "compare the fingerprint with the one the site publishes",
        "authenticate": "install the key (`vc3tui allocation install-key`), check the login name, or answer the site's prompts",
    }.get(stage, "see the detail above")


class Checks:
    def __init__(self, resource: Resource, executor: Executor, account: str | None, installation_id: str) -> None:
        self.resource = resource
        self.executor = executor
        self.account = account
        self.installation_id = installation_id
        self.home_dir = ""
        self.reach: Reach | None = None

    @property
    def ssh(self) -> SSHExecutor:
        assert isinstance(self.executor, SSHExecutor)
        return self.executor

    async def resolve(self) -> str:
        where = self.ssh.route
        if where.through:
            return f"{where.hostname} is reached through {where.through} (~/.ssh/config): the login checks it"
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(where.hostname, where.port)
        except OSError as exc:
            raise StageFailed(f"{where.hostname} does not resolve ({exc.strerror or exc})", "check the host name for typos, or connect the VPN the site needs") from None
        return ", ".join(sorted({info[4][0] for info in infos}))

    async def tcp(self) -> str:
        where = self.ssh.route
        if where.through:
            return f"port {where.port} is reached through {where.through}: the login checks it"
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(where.hostname, where.port), 15)
        except (OSError, asyncio.TimeoutError) as exc:
            raise StageFailed(
                f"{where.hostname}:{where.port} does not answer ({getattr(exc, 'strerror', None) or type(exc).__name__})",
                "check the port; the site may allow SSH only from its network or VPN",
            ) from None
        writer.close()
        return f"port {where.port} open"

    async def host_key(self) -> str:
        await self.ssh.trust()
        return "trusted"

    async def authenticate(self) -> str:
        await self.ssh.connection()
        how = "with a password or code" if self.ssh.interactive else "with a key"
        return f"logged in {how}; landed on {self.ssh.landed_on}"

    async def command(self) -> str:
        result = await self.executor.run(["echo", "vc3tui-ok"])
        if result.stdout.strip() != "vc3tui-ok":
            raise StageFailed(f"unexpected output {result.stdout.strip()[:80]!r}", "make your login shell quiet for non-interactive logins")
        return "ok"

    async def home(self) -> str:
        result = await self.executor.run_script('f=$(mktemp "$HOME/.vc3tui-probe.XXXXXX") && rm -f "$f" && printf %s "$HOME"\n')
        if not result.ok:
            raise StageFailed(f"cannot write in the home directory: {result.summary()}", "check your quota (`quota -s`) and home permissions")
        self.home_dir = result.stdout.strip()
        return self.home_dir

    async def scratch(self) -> str:
        if not self.resource.scratch_dir:
            return "no scratch dir set; the working dir goes under ~/.vc3tui"
        path = await expand_remote_path(self.executor, self.resource.scratch_dir)
        quoted = shlex.quote(path)
        result = await self.executor.run_script(
            f"f=$(mktemp {quoted}/.vc3tui-probe.XXXXXX) && rm -f \"$f\" && df -Pk {quoted} | tail -n 1\n"
        )
        if not result.ok:
            raise StageFailed(f"cannot write in {path}: {result.summary()}", "set the resource's scratch_dir to a directory you own")
        fields = result.stdout.split()
        free_gb = (whole_number(fields[3]) or 0) / 2**20 if len(fields) > 3 else 0.0
        return f"{path}, {free_gb:.1f} GB free"

    async def python(self) -> str:
        result = await self.executor.run_script(
            "command -v python3 >/dev/null 2>&1 || { command -v module >/dev/null 2>&1 || [ -n \"$LMOD_CMD\" ] "
            "&& echo modules; exit 3; }\npython3 -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])'\n"
        )
        if result.returncode == 3:
            hint = "this site has environment modules: try `module avail python`, then add `module load python3` to ~/.bashrc" if "modules" in result.stdout else "install python3 (3.6 or newer) in your home or ask the site"
            raise StageFailed("python3 is not on PATH for non-interactive logins", hint)
        version = result.stdout.strip()
        numbers = tuple(int(n) for n in version.split(".")[:2]) if re.fullmatch(r"\d+\.\d+\.\d+", version) else (0, 0)
        if numbers < MIN_PYTHON:
            raise StageFailed(f"python3 is {version or 'unusable'}", "the builder needs python 3.6 or newer: load a newer module")
        return f"python {version}"

    async def batch(self) -> str:
        commands = BATCH_COMMANDS[self.resource.batch]
        result = await self.executor.run_script(
            "".join(f"command -v {c} >/dev/null 2>&1 || echo {c}\n" for c in commands)
        )
        missing = result.stdout.split()
        if missing:
            raise StageFailed(
                f"{', '.join(missing)} not found on PATH",
                f"is {self.resource.batch} the right batch system? If it is, load its module in ~/.bashrc for non-interactive logins",
            )
        return ", ".join(commands)

    async def system(self) -> str:
        result = await self.executor.run_script(
            "uname -m; (. /etc/os-release 2>/dev/null && echo \"$ID:$VERSION_ID\") || uname -s; "
            "nproc 2>/dev/null || getconf _NPROCESSORS_ONLN; awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo 2>/dev/null\n"
        )
        lines = result.stdout.split()
        if len(lines) < 4:
            raise StageFailed(f"could not read the system: {result.stdout.strip()[:80]!r}", "this is informational; the allocation may still work")
        arch, os_name, cores, memory = lines[:4]
        return f"{os_name} {arch}, {cores} cores, {memory} MB"


    async def test_job(self) -> str:
        """A real job through the batch system, the same way pilots go, seen to finish, output checked."""
        printed = await self._job(["sh", "-c", "echo vc3tui-test-job ran on $(hostname)"], "test job")
        if "vc3tui-test-job" not in printed:
            raise StageFailed(f"the test job printed {printed[:80]!r}", "check that jobs can write to your home directory")
        return printed

    async def reachability(self) -> str:
        """Which way back a compute node has, for a head on this machine: directly, through a
        relay on the login node (over the connection held), or only to the login node."""
        server = await asyncio.start_server(_answer, "0.0.0.0", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            mine = (await self.ssh.connection()).get_extra_info("sockname")[0]
            relay = await self.ssh.connect_back(port)
            printed = await self._job([self.ssh.python, "-c", PROBE, f"{mine}:{port}", relay.address], "reachability job")
        finally:
            self.ssh.end_connect_back(port)  # its relay held one of the connection's sessions
            server.close()
        answers = dict(line.split(" ", 1) for line in printed.splitlines() if " " in line)
        direct, through = answers.get(f"{mine}:{port}", "no answer"), answers.get(relay.address, "no answer")
        self.reach = Reach(this_machine=direct == "answered", through_login=through == "answered", login_node=through in ("answered", "closed"))
        marks = lambda ok: "\u2714" if ok else "\u2716"  # noqa: E731
        return (
            f"compute nodes reach: the login node {marks(self.reach.login_node)}, this machine {marks(self.reach.this_machine)}"
            f" (through the login node {marks(self.reach.through_login)})"
        )

    async def _job(self, command: list[str], what: str) -> str:
        """Run `command` as a one-pilot job, the way pilots go; what it printed."""
        workdir = f"{self.home_dir}/.vc3tui/validation"
        tag = pilot_tag(self.installation_id, "00000000", int(time.time() * 1000) % 10**9)
        pilot = Pilot(cluster_id="00000000", allocation="validation", index=int(tag.rsplit("-", 1)[1]), tag=tag)
        batch = batch_system(self.resource.batch)
        submission = Submission(
            pilots=[pilot],
            shape=PilotShape(1, 100, 100, 600, self.resource.partition, self.account, tuple(self.resource.batch_options)),
            workdir=workdir,
            builder=NO_BUILDER,
            command=command,
        )
        try:
            pilot.job_id = (await batch.submit(self.executor, submission))[tag]
            deadline = time.monotonic() + TEST_JOB_TIMEOUT
            while time.monotonic() < deadline:
                status = (await batch.status(self.executor, [pilot], workdir)).get(tag)
                if status is not None and status.state.ended:
                    break
                await asyncio.sleep(1)
            else:
                await batch.cancel(self.executor, [pilot])
                raise StageFailed(f"the {what} {pilot.job_id} did not finish in {TEST_JOB_TIMEOUT:.0f} s", "check the queue's limits and your account")
            return (await self.executor.run(["cat", f"{workdir}/pilots/{tag}/worker.log"])).stdout.strip()
        except (CommandFailed, RuntimeError) as exc:
            raise StageFailed(f"the {what} failed: {exc}", "check the partition and account the resource names") from None


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The probe's listener: one line back, so a node knows the whole path works."""
    writer.write(b"vc3tui\n")
    await writer.drain()
    writer.close()


async def expand_remote_path(executor: Executor, path: str) -> str:
    """Expand `~` and `$VAR` as the site's login environment sees them, without a shell eval."""
    result = await executor.run(["env"])
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    if path.startswith("~"):
        path = values.get("HOME", "") + path[1:]
    return ENV_REFERENCE.sub(lambda m: values.get(m.group(1), ""), path)

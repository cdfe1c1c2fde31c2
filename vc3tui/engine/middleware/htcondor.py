"""HTCondor: a collector, negotiator and schedd on the head; a glidein (a condor_master with only
a startd) in each pilot that joins the head with a token, as glideinWMS runs one. Everything
authenticates (IDTOKENS between hosts, FS on the head) and is encrypted.

The head makes its pool signing key (0600, never leaves the head's site) and, when it starts, mints
two tokens with `condor_token_create`: one for its own daemons and tools, and one for workers that
may only advertise a startd and a master and read. Workers get that token copied 0600 into their
site's secrets dir and into their own `tokens.d`; the key itself is never copied.

HTCondor's programs come from the builder: the system's, or a relocatable tarball a site offers
(its recipe sets RELEASE_DIR and LIBEXEC through `_CONDOR_` variables), so nothing here names a
path of an installation. The head writes the tools' PATH and those variables to `tools.env`, which
vc3tui's own queries read.

A glidein's master and startd are named after its pilot (`MASTER_NAME`, `STARTD_NAME`, and
`VC3_PILOT_TAG` in both ads), so workers map to pilots exactly and two on one node stay apart.
Its START expression refuses jobs that say (`MaxRuntime`) they would outlive the pilot; it exits
after `workers.idle_timeout` without a claim, and its master follows it. Before it starts, it asks
the collector whether it may advertise (`condor_ping`), as glideinWMS validates a glidein: one that
cannot join fails at once with HTCondor's own words, rather than running unseen. The schedd's held
jobs are reported with HTCondor's hold reasons: no glidein runs them until the user acts.

Peaceful drain is HTCondor's own peaceful shutdown of the drained pilots' glideins (`condor_off
-peaceful`, by tag): their running jobs finish (NumJobStarts stays 1), no other starts, and the
glidein exits. A pilot cancelled outright takes its job with it; the schedd puts the job back in
the queue.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from vc3tui.engine.executors.relay import RELAY
from vc3tui.engine.interfaces import CommandFailed, Executor, HeadAddress, HeadLaunch, HeadLink, WorkerInfo
from vc3tui.engine.middleware.ports import reserving_port
from vc3tui.engine.models import Cluster, Head, HeadPlacement, MiddlewareKind
from vc3tui.engine.pilot import pilot_lifetime
from vc3tui.engine.numbers import whole_number

POOL_KEY = "condor-pool-key"
HEAD_CONFIG = "condor-head.config"
WORKER_CONFIG = "condor-worker.config"
WORKER_TOKEN = "condor-worker.token"
PORT_FILE = "collector.port"

START = "(TARGET.MaxRuntime =?= undefined) || (time() + TARGET.MaxRuntime < MY.VC3_PILOT_END)"
"""Glidein-style: a job that declares its runtime starts only if it ends before the pilot does."""
MASTER_SHUTDOWN = "STARTD_StartTime =?= 0"
"""The pilot's master exits once its startd has (idle, or drained and done)."""

MASTER = """\
set +e
condor_master -f 4>&- &
m=$!
trap 'kill -QUIT "$m" 2>/dev/null' TERM INT HUP
wait "$m"; code=$?
while kill -0 "$m" 2>/dev/null; do wait "$m"; code=$?; done
exit "$code"
"""
"""condor_master puts itself in a session of its own, out of reach of a signal to its starter's
group: a TERM there becomes the master's fast shutdown (QUIT), which takes every daemon with it."""

HEAD_START = """\
set -e
umask 077
w=$1 host=$2
mkdir -p "$w/condor/log" "$w/condor/spool" "$w/condor/execute" "$w/condor/lock" "$w/condor/run" "$w/condor/tokens.d"
export -p | grep -E '^export (PATH|_CONDOR_[A-Za-z0-9_]+)=' > "$w/condor/tools.env"
port=$(cat "$w/collector.port")
printf 'COLLECTOR_HOST = %s:%s\nSHARED_PORT_PORT = %s\n' "$host" "$port" "$port" > "$w/condor/collector.config"
echo "VC3_OWNER = $(id -un)" >> "$w/condor/collector.config"
condor_token_create -identity "condor@$3" -key POOL > "$w/condor/tokens.d/head"
condor_token_create -identity "vc3-worker@$3" -key POOL -authz ADVERTISE_STARTD -authz ADVERTISE_MASTER -authz READ \\
    > "$w/secrets/condor-worker.token.tmp"
mv "$w/secrets/condor-worker.token.tmp" "$w/secrets/condor-worker.token"
""" + MASTER

WORKER_START = """\
set -e
umask 077
d=$(pwd)/condor
mkdir -p "$d/log" "$d/spool" "$d/execute" "$d/lock" "$d/run" "$d/tokens.d"
cp "$1/condor-worker.token" "$d/tokens.d/worker"
export CONDOR_CONFIG="$1/condor-worker.config" VC3_CONDOR_DIR="$d" VC3_COLLECTOR="$2" VC3_CCB=
if [ -n "$4" ]; then
    rm -f "$d/forward.in" && mkfifo "$d/forward.in"
    "${VC3_PYTHON:-python3}" -c "$5" 127.0.0.1 "$4" "$2" shared < "$d/forward.in" > "$d/forward.port" 2> "$d/log/forward.log" &
    exec 4> "$d/forward.in"
    while [ ! -s "$d/forward.port" ] && kill -0 $! 2>/dev/null; do sleep 0.1; done
    if [ ! -s "$d/forward.port" ]; then
        echo "cannot forward port $4 of this node to the head at $2: $(tail -n 1 "$d/log/forward.log")" >&2
        exit 1
    fi
    VC3_COLLECTOR=127.0.0.1:$4
    [ "$(cat "$d/forward.port")" = 0 ] || VC3_CCB=$VC3_COLLECTOR
fi
export VC3_PILOT_END=$(( $(date +%s) + $3 ))
if ! condor_ping -type collector ADVERTISE_STARTD > "$d/log/ping.log" 2>&1; then
    echo "the glidein cannot join the pool at $VC3_COLLECTOR: $(grep . "$d/log/ping.log" | tail -n 1)" >&2
    exit 1
fi
""" + MASTER

TOOL = '. "$0" && exec "$@"'
"""Runs an HTCondor tool with the head's tools.env."""


def on_this_machine(cluster: Cluster) -> bool:
    """A head on the user's machine is advertised at loopback, and glideins elsewhere reach it
    through a forwarder on their own node's loopback: sites that reach it different ways (directly,
    or through their login node's relay) then all see one address for every daemon on it."""
    return cluster.blueprint.head.placement is HeadPlacement.LOCAL


def trust_domain(cluster: Cluster) -> str:
    return f"vc3-{cluster.id}"


def _security(cluster: Cluster, methods: str) -> str:
    return f"""\
TRUST_DOMAIN = {trust_domain(cluster)}
UID_DOMAIN = {trust_domain(cluster)}
SEC_DEFAULT_AUTHENTICATION = REQUIRED
SEC_DEFAULT_AUTHENTICATION_METHODS = {methods}
SEC_CLIENT_AUTHENTICATION_METHODS = {methods}
SEC_DEFAULT_ENCRYPTION = REQUIRED
SEC_DEFAULT_INTEGRITY = REQUIRED
SEC_TOKEN_DIRECTORY = $(LOCAL_DIR)/tokens.d
HEAD_IDENTITY = condor@{trust_domain(cluster)}
WORKER_IDENTITY = vc3-worker@{trust_domain(cluster)}
BASE_CGROUP =
LOG = $(LOCAL_DIR)/log
SPOOL = $(LOCAL_DIR)/spool
EXECUTE = $(LOCAL_DIR)/execute
LOCK = $(LOCAL_DIR)/lock
RUN = $(LOCAL_DIR)/run
"""


def head_config(cluster: Cluster, workdir: str, listen_host: str) -> str:
    """The head's configuration; `collector.config` (port, owner) is written by the head at start."""
    interface = f"NETWORK_INTERFACE = {listen_host}\n" if listen_host != "0.0.0.0" else ""
    forwarding = "TCP_FORWARDING_HOST = 127.0.0.1\n" if on_this_machine(cluster) else ""
    return f"""\
# vc3tui head of cluster {cluster.name} ({cluster.id}): collector, negotiator, schedd
DAEMON_LIST = MASTER, COLLECTOR, NEGOTIATOR, SCHEDD
LOCAL_DIR = {workdir}/condor
{_security(cluster, "FS, IDTOKENS")}SEC_TOKEN_POOL_SIGNING_KEY_FILE = {workdir}/secrets/{POOL_KEY}
include : {workdir}/condor/collector.config
{interface}{forwarding}USE_SHARED_PORT = True
OWNER_IDENTITY = $(VC3_OWNER)@$(UID_DOMAIN)
ALLOW_READ = *
ALLOW_WRITE = $(OWNER_IDENTITY), $(HEAD_IDENTITY)
ALLOW_ADMINISTRATOR = $(OWNER_IDENTITY), $(HEAD_IDENTITY)
ALLOW_DAEMON = $(OWNER_IDENTITY), $(HEAD_IDENTITY)
ALLOW_NEGOTIATOR = $(OWNER_IDENTITY), $(HEAD_IDENTITY)
ALLOW_ADVERTISE_SCHEDD = $(OWNER_IDENTITY), $(HEAD_IDENTITY)
ALLOW_ADVERTISE_MASTER = $(OWNER_IDENTITY), $(HEAD_IDENTITY), $(WORKER_IDENTITY)
ALLOW_ADVERTISE_STARTD = $(WORKER_IDENTITY)
ALLOW_CONFIG =
COLLECTOR_NAME = vc3 cluster {cluster.name}
NEGOTIATOR_INTERVAL = 20
"""


def worker_config(cluster: Cluster) -> str:
    """A pilot's configuration; its dir, collector and end time come from WORKER_START."""
    workers = cluster.blueprint.workers
    return f"""\
# vc3tui worker of cluster {cluster.name} ({cluster.id}): a glidein-style master + startd
DAEMON_LIST = MASTER, STARTD
LOCAL_DIR = $ENV(VC3_CONDOR_DIR)
{_security(cluster, "IDTOKENS")}COLLECTOR_HOST = $ENV(VC3_COLLECTOR)
USE_SHARED_PORT = False
CCB_ADDRESS = $ENV(VC3_CCB)
UPDATE_COLLECTOR_WITH_TCP = True
ALLOW_READ = *
ALLOW_WRITE = $(HEAD_IDENTITY)
ALLOW_DAEMON = $(HEAD_IDENTITY)
ALLOW_ADMINISTRATOR = $(HEAD_IDENTITY)
ALLOW_CONFIG =
MASTER_NAME = $ENV(VC3_PILOT_TAG)
STARTD_NAME = $ENV(VC3_PILOT_TAG)
VC3_PILOT_TAG = "$ENV(VC3_PILOT_TAG)"
VC3_PILOT_END = $ENV(VC3_PILOT_END)
IsGlidein = True
STARTD_ATTRS = $(STARTD_ATTRS) VC3_PILOT_TAG VC3_PILOT_END IsGlidein
MASTER_ATTRS = $(MASTER_ATTRS) VC3_PILOT_TAG
NUM_CPUS = {workers.cores}
MEMORY = {workers.memory_mb}
START = {START}
SUSPEND = False
PREEMPT = False
KILL = False
WANT_SUSPEND = False
RUNBENCHMARKS = False
MOUNT_UNDER_SCRATCH =
SEC_USE_FAMILY_SESSION = False
STARTD_NOCLAIM_SHUTDOWN = {workers.idle_timeout or pilot_lifetime(workers.walltime)}
MASTER.DAEMON_SHUTDOWN = {MASTER_SHUTDOWN}
MASTER_UPDATE_INTERVAL = 30
"""


def tag_constraint(tags: Sequence[str]) -> str:
    """Ads of these pilots' glideins (tags are [a-z0-9-]: nothing to escape)."""
    listed = ", ".join(f'"{tag}"' for tag in sorted(set(tags)))
    return f"member(VC3_PILOT_TAG ?: \"\", {{{listed}}})"


def parse_workers(text: str) -> list[WorkerInfo]:
    """`condor_status -startd -af VC3_PILOT_TAG Machine` -> one WorkerInfo per pilot (a pilot with
    several slots is one worker); lines that do not parse are skipped."""
    found: dict[str, WorkerInfo] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] != "undefined":
            found.setdefault(fields[0], WorkerInfo(name=fields[0], tag=fields[0] if fields[0].startswith("vc3-") else None, address=fields[1]))
    return list(found.values())


def parse_held(text: str) -> list[str]:
    """`condor_q -af:t ClusterId ProcId HoldReasonCode HoldReasonSubCode HoldReason` of held jobs
    -> one line per cause (HTCondor's own code and subcode), with its first job's reason."""
    causes: dict[tuple[str, str], tuple[str, list[str]]] = {}  # (code, subcode) -> (reason, jobs)
    for line in text.splitlines():
        fields = line.split("\t", 4)
        if len(fields) == 5:
            causes.setdefault((fields[2], fields[3]), (fields[4].strip(), []))[1].append(f"{fields[0]}.{fields[1]}")
    lines = []
    for reason, jobs in sorted(causes.values(), key=lambda cause: -len(cause[1])):
        listed = ", ".join(jobs[:3]) + ", …" * (len(jobs) > 3)
        lines.append(f"{len(jobs)} job{'s' * (len(jobs) != 1)} held ({listed}): {reason}")
    return lines


def parse_jobs(text: str) -> int:
    """`condor_q -af RequestCpus` of idle and running jobs -> the cores they ask for."""
    return sum(max(1, whole_number(line.strip()) or 1) for line in text.splitlines() if line.strip())


class HTCondorMiddleware:
    kind = MiddlewareKind.HTCONDOR
    has_manager = True
    entry_is_manager = False
    ends_idle_workers = True
    joined_line = None
    worker_secrets = (WORKER_CONFIG, WORKER_TOKEN)

    def head_launch(self, cluster: Cluster, workdir: str, listen_host: str) -> HeadLaunch:
        host = listen_host if listen_host != "0.0.0.0" else "$(FULL_HOSTNAME)"
        start = ["sh", "-c", HEAD_START, "sh", workdir, host, trust_domain(cluster)]
        return HeadLaunch(
            argv=reserving_port(f"{workdir}/{PORT_FILE}", listen_host, start),
            env={"CONDOR_CONFIG": f"{workdir}/secrets/{HEAD_CONFIG}"},
        )

    async def locate(self, executor: Executor, workdir: str, host: str) -> HeadAddress | None:
        try:
            await executor.get(f"{workdir}/secrets/{WORKER_TOKEN}")
            port = int((await executor.get(f"{workdir}/{PORT_FILE}")).decode().strip())
        except (OSError, ValueError):
            return None
        return HeadAddress(address=f"{host}:{port}", ports={"collector": port})

    def external(self, address: str) -> HeadAddress:
        """A collector at HOST[:PORT] (default 9618); its worker configuration and token come with head.secrets."""
        host, _, port = address.rpartition("://")[2].partition(":")
        return HeadAddress(address=f"{host}:{port or 9618}", ports={"collector": int(port or 9618)})

    def join_address(self, head: Head) -> str:
        return head.address

    def ticket_needed(self, head: Head) -> bool:
        return True

    async def ready(self, executor: Executor, head: Head) -> bool:
        result = await self._tool(executor, head, ["condor_status", "-collector", "-af", "Name"])
        return result.ok and bool(result.stdout.strip())

    def worker_command(self, cluster: Cluster, head: Head, tag: str, secrets_dir: str) -> list[str]:
        lifetime = pilot_lifetime(cluster.blueprint.workers.walltime)
        forward = [str(cluster.head.ports["collector"]), RELAY] if on_this_machine(cluster) else ["", ""]
        return ["sh", "-c", WORKER_START, "sh", secrets_dir, head.address, str(lifetime), *forward]

    async def workers(self, executor: Executor, head: Head) -> list[WorkerInfo]:
        result = await self._tool(executor, head, ["condor_status", "-startd", "-af", "VC3_PILOT_TAG", "Machine"])
        if not result.ok:
            raise CommandFailed(result)
        return parse_workers(result.stdout)

    async def demand(self, executor: Executor, cluster: Cluster) -> int:
        """Workers for the cores the schedd's idle and running jobs ask for."""
        queued = ["condor_q", "-allusers", "-constraint", "JobStatus == 1 || JobStatus == 2", "-af", "RequestCpus"]
        result = await self._tool(executor, cluster.head, queued)
        if not result.ok:
            raise CommandFailed(result)
        return -(-parse_jobs(result.stdout) // cluster.blueprint.workers.cores)

    async def held(self, executor: Executor, cluster: Cluster) -> Sequence[str]:
        """The schedd's held jobs, by HTCondor's hold reason: they wait for the user (condor_release
        once fixed, or condor_rm), and no glidein will run them."""
        fields = ["ClusterId", "ProcId", "HoldReasonCode", "HoldReasonSubCode", "HoldReason"]
        result = await self._tool(executor, cluster.head, ["condor_q", "-allusers", "-constraint", "JobStatus == 5", "-af:t", *fields])
        if not result.ok:
            raise CommandFailed(result)
        return parse_held(result.stdout)

    async def drain(self, executor: Executor, head: Head, tags: Sequence[str]) -> None:
        """A peaceful shutdown of these pilots' glideins: running jobs finish, none starts. The
        head tells each startd itself (a glidein's master may not: its token only advertises),
        then has each master stop once its startd is done."""
        for daemon in ("-startd", "-master"):
            result = await self._tool(executor, head, ["condor_off", "-peaceful", "-constraint", tag_constraint(tags), daemon])
            if not result.ok:
                raise CommandFailed(result)

    def secrets(self, cluster: Cluster, workdir: str, listen_host: str) -> Mapping[str, bytes]:
        return {
            POOL_KEY: secrets.token_bytes(64),
            HEAD_CONFIG: head_config(cluster, workdir, listen_host).encode(),
            WORKER_CONFIG: worker_config(cluster).encode(),
        }

    def client_environment(self, cluster: Cluster) -> Mapping[str, str]:
        head = cluster.head
        if head is None or not head.address:
            return {}
        return {"CONDOR_CONFIG": f"{head.workdir}/secrets/{HEAD_CONFIG}", "VC3_CONDOR_COLLECTOR": head.address}

    def links(self, head: Head) -> Sequence[HeadLink]:
        return [HeadLink.of_address("collector", head.address)]

    async def _tool(self, executor: Executor, head: Head, argv: list[str]):
        """An HTCondor tool run on the head, as the head's owner, against the head's own pool."""
        tools = f"{head.workdir}/condor/tools.env"
        return await executor.run(["sh", "-c", TOOL, tools, *argv], env={"CONDOR_CONFIG": f"{head.workdir}/secrets/{HEAD_CONFIG}"}, timeout=60)


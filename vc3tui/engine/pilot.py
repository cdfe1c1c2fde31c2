"""The pilot protocol: the wrapper every batch system runs, the markers it leaves, the exit
statuses that say how it ended, and the probe that reads them back.

The wrapper takes the pilot's tag as its only argument and writes markers into `BASE/TAG/` (the
stage in place: a reader catching it empty learns nothing and keeps the last; the exit status by
rename, whole or not at all):
`host`, `stage` (started, building, ready, worker_started: the last one it reached) and `exit`
(its status), so a pilot's outcome, and the stage it ended in, are known even on sites without
job accounting. With VC3_MANAGER_GATE set, a ready pilot waits (up to VC3_MANAGER_WAIT seconds)
for that file before starting its worker: the manager gate (gate.py). The probe reads the markers
of many pilots in one shell round trip, with the shell's builtins alone: no process per pilot, so
polling thousands of them stays light on a shared login node.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vc3tui.engine.bootstrap_key import bootstrap_call
from vc3tui.engine.interfaces import JobStatus, Middleware, Submission
from vc3tui.engine.models import Cluster, Head
from vc3tui.engine.numbers import whole_number
from vc3tui.engine.staging import staged_path
from vc3tui.engine.states import PilotStage, PilotState

def pilot_lifetime(walltime: int) -> int:
    """Seconds a pilot lives: its walltime less a margin, so it ends itself before the batch system
    kills it, and a fork pilot (which has no batch system) ends at all."""
    return max(1, walltime - min(300, walltime // 10))


MONITOR_SOURCE = (Path(__file__).parent / "pilot_monitor.py").read_bytes()

LIFETIME_EXIT = 124
"""A pilot's exit status when it ended at its maximum lifetime (as `timeout` reports it)."""
IDLE_EXIT = 123
"""A pilot's exit status when its monitor ended an idle worker."""
HEAD_LOST_EXIT = 122
"""A pilot's exit status when its monitor gave up on an unreachable head."""

KEEPER_DELAY = 2
"""Seconds between the worker's start and its keepers' (the lifetime watchdog, the monitor): on a
node where many pilots start at once, each process started beside a worker delays the others.
A delay that a signal ends stops the pilot: a batch system that cancels a job signals its processes
one by one, and keepers started after its pass would outlive the job (as orphans of init). For the
same reason a wrapper that ends, however it ends, signals its whole process group when it leads one
(batch systems start a job as a group leader): a keeper (or a keeper's own sleep) forked just as a
signal came, not yet known by its pid, and whatever the worker left running, end with the pilot."""

WATCHDOG_CHECK = 60
"""Seconds between the lifetime watchdog's looks at whether its pilot is over (an exit marker, or
no pilot dir). A TERM sent to a process just forked can be lost (dash takes it with the wrapper's
own trap, then drops it), so the wrapper ends its keepers with KILL, and a keeper that outlived
its pilot anyway (or its sleep) ends within this; none signals a worker pid its pilot reaped."""

PILOT_TAG = "@@VC3_PILOT_TAG@@"
"""Stands for the pilot's own tag inside a command shared by all pilots of a submission."""


WRAPPER = """\
#!/bin/sh
# vc3tui pilot wrapper: sh {name} TAG (or, from a job script: set -- TAG; . {name})
d={base}/"$1"
[ -d "$d" ] || mkdir -p "$d" || exit 1
cd "$d" || exit 1
mark() {{ echo "$1" > "$d/stage"; }}
finish() {{
    trap '' TERM INT HUP
    kill -TERM -$$ 2>/dev/null
    echo "$1" > "$d/exit.tmp" && mv "$d/exit.tmp" "$d/exit"; exit "$1"
}}
child= delay= watchdog= monitor=
end_keepers() {{ for p in $delay $watchdog $monitor; do kill -KILL "$p" 2>/dev/null; done; }}
stop() {{
    trap '' TERM INT HUP
    end_keepers
    kill -TERM -$$ 2>/dev/null || {{ [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; }}
    [ -n "$child" ] && wait "$child"
    finish "$1"
}}
trap 'stop 143' TERM
trap 'stop 130' INT
trap 'stop 129' HUP
{{ read -r node < /proc/sys/kernel/hostname || node=$(hostname || uname -n); }} 2>/dev/null
echo "$node" > "$d/host"
mark started
{exports}
export VC3_PILOT_TAG="$1"
mark building
{build} > "$d/build.log" 2>&1 || finish $?
mark ready
if [ -n "$VC3_MANAGER_GATE" ]; then
    n=$(( ${{VC3_MANAGER_WAIT:-0}} * 20 ))
    while [ "$n" -gt 0 ] && [ ! -e "$VC3_MANAGER_GATE" ]; do sleep 0.05 2>/dev/null || break; n=$((n - 1)); done
fi
( . "$d/env" && exec ${{VC3_EXEC:+"$VC3_EXEC"}} {command} ) > "$d/worker.log" 2>&1 &
child=$!
mark worker_started
if {keepers}; then
    sleep {keeper_delay} & delay=$!
    wait "$delay" || stop $?
    delay=
fi
if [ -n "$VC3_PILOT_LIFETIME" ]; then
    left=$(( VC3_PILOT_LIFETIME > {keeper_delay} ? VC3_PILOT_LIFETIME - {keeper_delay} : 0 ))
    (trap 'kill "$s" 2>/dev/null; exit 0' TERM
     over() {{ [ -e "$d/exit" ] || [ ! -d "$d" ]; }}
     while [ "$left" -gt 0 ] && ! over; do
         n=$(( left < {watchdog_check} ? left : {watchdog_check} )); left=$((left - n))
         sleep "$n" & s=$!; wait "$s" || exit 0
     done
     over || {{ echo lifetime > "$d/ended"; kill -TERM "$child" 2>/dev/null; }}) &
    watchdog=$!
fi
{monitor}
wait "$child"
code=$?
end_keepers
if [ -e "$d/ended" ]; then
    case $(head -n 1 "$d/ended") in lifetime) code={lifetime_code} ;; idle) code={idle_code} ;; head) code={head_code} ;; esac
fi
finish $code
"""


PROBE = """\
cd {base} 2>/dev/null || exit 0
get() {{ v=; [ -f "$1" ] && IFS= read -r v < "$1"; return 0; }} 2>/dev/null
for entry in {entries}; do
    t=${{entry%%=*}}
    if [ ! -d "$t" ]; then echo "$t none"; continue; fi
    get "$t/pid"; pid=${{v:-${{entry#*=}}}}
    alive=0
    if [ "$pid" != "-" ]; then
        if [ -d /proc/self ]; then
            get "/proc/$pid/cmdline"
            case $v in *"$t"*) alive=1 ;; esac
        elif ps -o args= -p "$pid" 2>/dev/null | grep -q -- "$t"; then
            alive=1
        fi
    fi
    get "$t/stage"; stage=$v; get "$t/exit"; code=$v; get "$t/host"
    echo "$t $pid $alive ${{stage:--}} ${{code:--}} ${{v:--}}"
done
"""


def render_wrapper(
    base: str,
    builder: Sequence[str],
    command: Sequence[str],
    env: Mapping[str, str],
    name: str = "pilot.sh",
    monitor_path: str | None = None,
) -> str:
    """The wrapper script; every value is shell-quoted, nothing the user wrote is pasted raw.
    With `monitor_path`, the pilot monitor (monitor.py) runs beside the worker."""
    exports = "\n".join(f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items()))
    monitor = ""
    if monitor_path:
        # with the python the builder found, at the lowest priority: its checks are minutes apart,
        # and it must not slow the worker (nor the other pilots on a crowded node)
        monitor = (
            '( . "$d/env" && low=; command -v nice >/dev/null 2>&1 && low="nice -n 19";'
            f' exec $low "$VC3_PYTHON" {shlex.quote(monitor_path)} "$d" "$child" )'
            ' > "$d/monitor.log" 2>&1 &\nmonitor=$!'
        )
    return WRAPPER.format(
        lifetime_code=LIFETIME_EXIT,
        idle_code=IDLE_EXIT,
        head_code=HEAD_LOST_EXIT,
        monitor=monitor,
        keepers="true" if monitor_path else '[ -n "$VC3_PILOT_LIFETIME" ]',
        keeper_delay=KEEPER_DELAY,
        watchdog_check=WATCHDOG_CHECK,
        name=name,
        base=shlex.quote(base),
        exports=exports,
        build=build_step(builder),
        command=_join(command),
    )


def monitored_wrapper(submission: Submission) -> tuple[str, tuple[bytes, str]]:
    """The submission's wrapper, and the pilot monitor (content, path) it runs, to stage beside it."""
    monitor_path = staged_path(MONITOR_SOURCE, submission.workdir, "monitor.py")
    wrapper = render_wrapper(
        f"{submission.workdir}/pilots", submission.builder, submission.command, submission.env, monitor_path=monitor_path
    )
    return wrapper, (MONITOR_SOURCE, monitor_path)


def from_markers(markers: Markers | None) -> JobStatus | None:
    """A pilot no longer in the queue: its own exit marker says how it ended (None: it left none)."""
    if markers is None or not markers.exists or markers.exit_code is None:
        return None
    code = markers.exit_code
    state, reason = ended_with(code)
    return JobStatus(state, native="left the queue", reason=reason, stage=markers.stage, exit_code=code, host=markers.host)


def stage_written(markers: Markers | None) -> PilotStage | None:
    """The stage a pilot still in its queue has reached, as its directory says (none before it has one)."""
    return markers.stage if markers and markers.exists else None


def ended_with(code: int) -> tuple[PilotState, str]:
    """How a pilot that exited with `code` ended: 143 we cancelled it, 124 its lifetime ran out."""
    if code == 143:
        return PilotState.DONE, "cancelled"
    if code == LIFETIME_EXIT:
        return PilotState.DONE, "reached its maximum lifetime"
    if code == IDLE_EXIT:
        return PilotState.DONE, "ended by its monitor: the worker was idle"
    if code == HEAD_LOST_EXIT:
        return PilotState.DONE, "ended by its monitor: the head was unreachable"
    return (PilotState.DONE, "exited with status 0") if code == 0 else (PilotState.FAILED, f"exited with status {code}")


def build_step(builder: Sequence[str]) -> str:
    """The wrapper's builder step, writing the pilot's environment to "$d/env". The sh bootstrap
    is read by a subshell of the wrapper rather than started (one program start less per pilot),
    handed its activation's key (the warm path then starts none) and its own dir."""
    call = bootstrap_call(builder)
    if call is None:
        return f'{_join(builder)} --env-to "$d/env"'
    python = f"export VC3_BUILDER_PYTHON={shlex.quote(call.python)}; " if call.python else ""
    return f'( VC3_BUILDER_KEY={call.key} VC3_BUILDER_DIR={shlex.quote(call.folder)}; {python}set -- {_join(call.args)} --env-to "$d/env"; . {shlex.quote(call.path)} )'


def _join(argv: Sequence[str]) -> str:
    """shlex.join, with PILOT_TAG becoming the wrapper's "$1" (tags are [a-z0-9-] only)."""
    return " ".join(_quote_with_tag(part) if PILOT_TAG in part else shlex.quote(part) for part in argv)


def _quote_with_tag(part: str) -> str:
    quoted = "'" + part.replace("'", "'\"'\"'") + "'"
    return quoted.replace(PILOT_TAG, "'\"$1\"'")


@dataclass(frozen=True, slots=True)
class Markers:
    """What a pilot (or head) left in its directory."""

    tag: str
    exists: bool
    pid: int | None = None
    alive: bool = False
    stage: PilotStage | None = None
    exit_code: int | None = None
    host: str | None = None


def render_probe(base: str, known_pids: Mapping[str, int | None]) -> str:
    entries = " ".join(shlex.quote(f"{tag}={pid if pid else '-'}") for tag, pid in known_pids.items())
    return PROBE.format(base=shlex.quote(base), entries=entries)


_STAGES = {stage.value: stage for stage in PilotStage}


def parse_probe(output: str) -> dict[str, Markers]:
    """One Markers per line of probe output; lines that do not parse are ignored, never fatal."""
    found: dict[str, Markers] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] == "none":
            found[fields[0]] = Markers(fields[0], exists=False)
            continue
        if len(fields) != 6:
            continue
        tag, pid, alive, stage, code, host = fields
        found[tag] = Markers(
            tag,
            exists=True,
            pid=whole_number(pid),
            alive=alive == "1",
            stage=_STAGES.get(stage),
            exit_code=whole_number(code, signed=True),
            host=None if host == "-" else host,
        )
    return found


def monitor_environment(cluster: Cluster, middleware: Middleware, head: Head | None) -> dict[str, str]:
    """What every pilot's monitor (pilot_monitor.py) watches: its lifetime, its head (as the
    pilot's site reaches it: a relay on its login node, for some), idleness."""
    workers = cluster.blueprint.workers
    env = {"VC3_PILOT_LIFETIME": str(pilot_lifetime(workers.walltime))}
    if middleware.has_manager and head and head.address:
        env["VC3_HEAD_ADDRESS"] = head.address.rsplit("://", 1)[-1]
        env["VC3_HEAD_TIMEOUT"] = str(workers.head_timeout)
        if not middleware.ends_idle_workers:
            env["VC3_IDLE_TIMEOUT"] = str(workers.idle_timeout)
    if middleware.joined_line:
        env["VC3_JOINED_LINE"] = middleware.joined_line
    return env

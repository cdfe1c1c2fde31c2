"""HTCondor as a site's batch system: one submit file with `queue ... in (...)`, `condor_q -af`,
`condor_rm`.

Every proc carries the custom attribute `Vc3tuiTag` (its pilot's full tag), so `condor_q` alone
says which pilot a proc is, and the engine touches no other job.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from vc3tui.engine.pilot import Markers, from_markers, stage_written
from vc3tui.engine.batch.jobs import cancel_ids, prefixes, queue_and_markers, stage_and_submit, tag_prefix
from vc3tui.engine.interfaces import Executor, JobStatus, Submission
from vc3tui.engine.models import BatchKind, Pilot
from vc3tui.engine.states import PilotState
from vc3tui.engine.numbers import whole_number

# JobStatus codes from the HTCondor manual
IDLE, RUNNING, REMOVED, COMPLETED, HELD, TRANSFERRING, SUSPENDED = 1, 2, 3, 4, 5, 6, 7
CONDOR_Q = "condor_q \"$(id -un)\" -constraint 'Vc3tuiTag =!= undefined' -af:j JobStatus Vc3tuiTag RemoteHost HoldReason"


def parse_condor_q(text: str, prefixes: set[str]) -> dict[str, tuple[str, int, str, str]]:
    """tag -> (proc id 'CLUSTER.PROC', JobStatus, remote host, hold reason) for our procs."""
    found = {}
    for line in text.splitlines():
        fields = line.split(None, 4)
        if len(fields) < 4 or not re.fullmatch(r"[0-9]+\.[0-9]+", fields[0]) or whole_number(fields[1]) is None:
            continue
        proc_id, code, tag, host = fields[:4]
        reason = fields[4] if len(fields) > 4 else ""
        if tag.rsplit("-", 1)[0] in prefixes:
            found[tag] = (proc_id, int(code), "" if host == "undefined" else host, "" if reason == "undefined" else reason)
    return found


def condor_status(entry: tuple[str, int, str, str] | None, markers: Markers | None) -> JobStatus | None:
    if entry is not None:
        proc_id, code, host, reason = entry
        stage = stage_written(markers)
        native = str(code)
        if code in (RUNNING, TRANSFERRING):
            return JobStatus(PilotState.RUNNING, native=native, stage=stage, host=host.split("@")[-1] or None, job_id=proc_id)
        if code == IDLE:
            return JobStatus(PilotState.QUEUED, native=native, job_id=proc_id)
        if code in (HELD, SUSPENDED):
            return JobStatus(PilotState.HELD, native=native, reason=reason or "held", job_id=proc_id)
        if code in (REMOVED, COMPLETED):
            reason = "removed" if code == REMOVED else "completed"
            return from_markers(markers) or JobStatus(PilotState.DONE, native=native, reason=reason, job_id=proc_id)
    return from_markers(markers)


class CondorBatch:
    kind = BatchKind.CONDOR

    def render(self, submission: Submission, wrapper_path: str = "WRAPPER") -> str:
        shape, pilots = submission.shape, submission.pilots
        prefix = tag_prefix(pilots[0])
        lines = [
            "universe = vanilla",
            "executable = /bin/sh",
            f'arguments = "{_condor_quote(wrapper_path)} {prefix}-$(pilot_index)"',
            f"request_cpus = {shape.cores}",
            f"request_memory = {shape.memory_mb}",
            f"request_disk = {shape.disk_mb * 1024}",
            f"periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > {shape.walltime})",
            f'+Vc3tuiTag = "{prefix}-$(pilot_index)"',
            f"output = {submission.workdir}/pilots/condor-$(Cluster).$(Process).out",
            "error = $(output)",
            f"log = {submission.workdir}/pilots/condor.log",
            "should_transfer_files = NO",
            "getenv = False",
        ]
        if shape.account:
            lines.append(f'accounting_group_user = "{_condor_quote(shape.account)}"')
        lines += [option.lstrip("-").replace("=", " = ", 1) for option in shape.options]
        lines += [f"queue pilot_index in ({' '.join(str(p.index) for p in pilots)})", ""]
        return "\n".join(lines)

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        result = await stage_and_submit(executor, submission, self.render, "pilots.sub", lambda path: f"condor_submit -terse {shlex.quote(path)}")
        match = re.search(r"(\d+)\.(\d+) - \1\.(\d+)", result.stdout)
        if not match:
            raise RuntimeError(f"condor_submit answered {result.stdout.strip()[:80]!r}, not proc ids")
        first = int(match[2])
        return {pilot.tag: f"{match[1]}.{first + position}" for position, pilot in enumerate(submission.pilots)}

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        if not pilots:
            return {}
        listing, markers = await queue_and_markers(executor, "condor_q", CONDOR_Q, pilots, workdir)
        queue = parse_condor_q(listing, prefixes(pilots))
        return {p.tag: status for p in pilots if (status := condor_status(queue.get(p.tag), markers.get(p.tag))) is not None}

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None:
        await cancel_ids(executor, "condor_rm", pilots, r"\d+\.\d+")


def _condor_quote(value: str) -> str:
    """Inside a new-syntax arguments string: ' and " are doubled, as the condor_submit manual says."""
    return value.replace('"', '""').replace("'", "''")

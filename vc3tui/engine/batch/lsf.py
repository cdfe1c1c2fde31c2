"""LSF: `bsub -J 'NAME[1-N]'` arrays, `bjobs -o ... -noheader`, `bkill`.

The job name carries the cluster's tag prefix and the pilot indexes of its elements
(`PREFIX.3-5_9[1-4]`: element K runs the K-th index), so `bjobs` alone says which pilot every
element is, and the engine touches no other job.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from vc3tui.engine.pilot import Markers, from_markers, stage_written
from vc3tui.engine.batch.jobs import cancel_ids, compress, expand, prefixes, queue_and_markers, run_pilot_at, site_directives, stage_and_submit, tag_prefix
from vc3tui.engine.interfaces import Executor, JobStatus, Submission
from vc3tui.engine.models import BatchKind, Pilot
from vc3tui.engine.states import PilotState
from vc3tui.engine.numbers import whole_number

BJOBS_FORMAT = "jobid jobindex stat job_name exec_host pend_reason delimiter='|'"
NAME = re.compile(r"^(vc3-[0-9a-f]+-[0-9a-f]+)\.([0-9_-]+)\[\d+\]$")


def parse_bjobs(text: str, prefixes: set[str]) -> dict[str, tuple[str, str, str, str]]:
    """tag -> (element id 'JOB[K]', LSF state, exec host, pending reason) for our elements."""
    found = {}
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 6 or whole_number(fields[0].strip()) is None or whole_number(fields[1].strip()) is None:
            continue
        job, element, state, name, host, reason = (f.strip() for f in fields)
        match = NAME.match(name)
        if not match or match[1] not in prefixes:
            continue
        indexes = expand(match[2].replace("_", ","))
        position = whole_number(element)
        if 1 <= position <= len(indexes):
            found[f"{match[1]}-{indexes[position - 1]}"] = (f"{job}[{element}]", state, host, reason)
    return found


def lsf_status(entry: tuple[str, str, str, str] | None, markers: Markers | None) -> JobStatus | None:
    if entry is not None:
        job_id, state, host, reason = entry
        native_reason = "" if reason in ("-", "") else reason
        stage = stage_written(markers)
        if state == "RUN":
            return JobStatus(PilotState.RUNNING, native=state, stage=stage, host=host if host != "-" else None, job_id=job_id)
        if state in ("PSUSP", "USUSP", "SSUSP"):
            return JobStatus(PilotState.HELD, native=state, reason=native_reason or state.lower(), job_id=job_id)
        if state in ("PEND", "WAIT"):
            return JobStatus(PilotState.QUEUED, native=state, reason=native_reason, job_id=job_id)
        if state == "UNKWN":
            return JobStatus(PilotState.UNKNOWN, native=state, reason="LSF lost contact with the job's host", job_id=job_id)
        if state in ("DONE", "EXIT", "ZOMBI"):
            finished = from_markers(markers)
            if finished is not None:
                return finished
            failed = state != "DONE"
            return JobStatus(PilotState.FAILED if failed else PilotState.DONE, native=state, reason=state.lower(), job_id=job_id)
    return from_markers(markers)


class LSFBatch:
    kind = BatchKind.LSF

    def render(self, submission: Submission, wrapper_path: str = "WRAPPER") -> str:
        shape, pilots = submission.shape, submission.pilots
        prefix = tag_prefix(pilots[0])
        name = f"{prefix}.{compress([p.index for p in pilots]).replace(',', '_')}[1-{len(pilots)}]"
        directives = [
            f"-J {shlex.quote(name)}",
            f"-n {shape.cores}",
            "-R 'span[hosts=1]'",
            f"-M {shape.memory_mb}MB",
            f"-W {max(1, -(-shape.walltime // 60))}",
            f"-o {shlex.quote(submission.workdir + '/pilots/lsf-%J_%I.out')}",
        ]
        directives += site_directives(shape, "-P")
        lines = ["#!/bin/sh", *(f"#BSUB {d}" for d in directives)]
        return "\n".join(lines + run_pilot_at(pilots, wrapper_path, "$((LSB_JOBINDEX - 1))"))

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        result = await stage_and_submit(executor, submission, self.render, "array.lsf", lambda path: f"bsub < {shlex.quote(path)}")
        match = re.search(r"Job <(\d+)> is submitted", result.stdout)
        if not match:
            raise RuntimeError(f"bsub answered {result.stdout.strip()[:80]!r}, not a job id")
        return {pilot.tag: f"{match[1]}[{position}]" for position, pilot in enumerate(submission.pilots, start=1)}

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        if not pilots:
            return {}
        # bjobs exits non-zero when nothing is left to list; that is an answer, not a failure
        command = (
            f"out=$(bjobs -u \"$(id -un)\" -noheader -o {shlex.quote(BJOBS_FORMAT)} 2>&1); code=$?; "
            'case "$out" in *"No unfinished job found"*) code=0; out= ;; esac; printf "%s\\n" "$out"; (exit $code)'
        )
        listing, markers = await queue_and_markers(executor, "bjobs", command, pilots, workdir)
        queue = parse_bjobs(listing, prefixes(pilots))
        return {p.tag: status for p in pilots if (status := lsf_status(queue.get(p.tag), markers.get(p.tag))) is not None}

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None:
        await cancel_ids(executor, "bkill", pilots, r"\d+\[\d+\]")

"""PBS Pro and Torque: `qsub -J` (PBS Pro) / `qsub -t` (Torque) arrays, `qstat -f -t`, `qdel`.

Job names stay within Torque's 15 characters; the cluster's identity and each array index's
pilot travel in the job's variable list (`VC3TUI_PREFIX`, `VC3TUI_INDEXES`), which `qstat -f`
prints, so the engine knows its own sub-jobs after a crash and touches no other job. PBS Pro's
`qstat -f -F json` is read where it is available; Torque's text form otherwise.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence

from vc3tui.engine.pilot import Markers, from_markers, stage_written
from vc3tui.engine.batch.jobs import cancel_ids, clock, compress, expand, prefixes, queue_and_markers, run_pilot_at, site_directives, stage_and_submit, tag_prefix
from vc3tui.engine.interfaces import Executor, JobStatus, Submission
from vc3tui.engine.models import BatchKind, Pilot
from vc3tui.engine.tags import job_name
from vc3tui.engine.states import PilotState

QUEUED, RUNNING, HELD = set("QWT"), set("RE"), set("HSU")
SUBJOB = re.compile(r"^(\d+)\[(\d+)\]")


def parse_qstat_full(text: str) -> dict[str, dict[str, str]]:
    """`qstat -f` (Torque or PBS Pro text) or `qstat -f -F json` (PBS Pro) -> job id -> attributes."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            jobs = json.loads(stripped).get("Jobs", {})
        except (ValueError, AttributeError):
            return {}
        if not isinstance(jobs, dict):
            return {}
        out = {}
        for job_id, attributes in jobs.items():
            if isinstance(attributes, dict):
                flat = {k: v for k, v in attributes.items() if not isinstance(v, dict)}
                variables = attributes.get("Variable_List", {})
                if isinstance(variables, dict):
                    flat["Variable_List"] = ",".join(f"{k}={v}" for k, v in variables.items())
                out[job_id] = {k: str(v) for k, v in flat.items()}
        return out
    jobs: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    key = ""
    for line in text.splitlines():
        if line.startswith("Job Id:"):
            current = jobs.setdefault(line.split(":", 1)[1].strip(), {})
            key = ""
        elif current is not None and " = " in line and not line.startswith("\t"):
            key, _, value = line.strip().partition(" = ")
            current[key] = value
        elif current is not None and key and line.startswith("\t"):
            current[key] += line.strip()  # a long value wrapped onto the next line
    return jobs


def our_subjobs(jobs: dict[str, dict[str, str]], prefixes: set[str]) -> dict[str, tuple[str, str, str]]:
    """tag -> (sub-job id, state letter, comment) for sub-jobs whose variable list names our cluster."""
    found = {}
    for job_id, attributes in jobs.items():
        variables = dict(
            item.split("=", 1) for item in attributes.get("Variable_List", "").split(",") if "=" in item
        )
        prefix, indexes = variables.get("VC3TUI_PREFIX"), variables.get("VC3TUI_INDEXES", "").replace(":", ",")
        match = SUBJOB.match(job_id)
        if prefix not in prefixes or not match:
            continue
        positions = expand(indexes)
        position = int(match[2])
        if position < len(positions):
            found[f"{prefix}-{positions[position]}"] = (job_id, attributes.get("job_state", ""), attributes.get("comment", ""))
    return found


def pbs_status(entry: tuple[str, str, str] | None, markers: Markers | None) -> JobStatus | None:
    if entry is not None:
        job_id, state, comment = entry
        stage = stage_written(markers)
        if state in RUNNING:
            return JobStatus(PilotState.RUNNING, native=state, reason=comment, stage=stage, job_id=job_id)
        if state in HELD:
            return JobStatus(PilotState.HELD, native=state, reason=comment or "held", job_id=job_id)
        if state in QUEUED:
            return JobStatus(PilotState.QUEUED, native=state, reason=comment, job_id=job_id)
    return from_markers(markers)


class PBSBatch:
    """PBS Pro by default; `torque=True` for Torque's `-t` arrays and `PBS_ARRAYID`."""

    def __init__(self, torque: bool = False) -> None:
        self.torque = torque
        self.kind = BatchKind.TORQUE if torque else BatchKind.PBS

    def render(self, submission: Submission, wrapper_path: str = "WRAPPER") -> str:
        shape, pilots = submission.shape, submission.pilots
        prefix = tag_prefix(pilots[0])
        indexes = [p.index for p in pilots]
        last = len(pilots) - 1
        # PBS Pro wants X < Y in -J: a lone pilot is the range 0-1 taken in steps of 2
        array = f"-t 0-{last}" if self.torque else (f"-J 0-{last}" if last else "-J 0-1:2")
        directives = [
            f"-N {job_name(pilots[0].tag)}",
            array,
            f"-l walltime={clock(shape.walltime, hours_width=2)}",
            f"-l {'nodes=1:ppn' if self.torque else 'select=1:ncpus'}={shape.cores}{'' if self.torque else f':mem={shape.memory_mb}mb'}",
            "-j oe",
            "-S /bin/sh",  # else PBS may run it in the user's login shell; it reads the sh wrapper itself
            f"-o {shlex.quote(submission.workdir + '/pilots')}",
            f"-v VC3TUI_PREFIX={prefix},VC3TUI_INDEXES={compress(indexes).replace(',', ':')}",
        ]
        if self.torque:
            directives.append(f"-l mem={shape.memory_mb}mb")
        directives += site_directives(shape, "-A")
        index = "PBS_ARRAYID" if self.torque else "PBS_ARRAY_INDEX"
        lines = ["#!/bin/sh", *(f"#PBS {d}" for d in directives)]
        return "\n".join(lines + run_pilot_at(pilots, wrapper_path, f"${index}"))

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        result = await stage_and_submit(executor, submission, self.render, "array.pbs", lambda path: f"qsub {shlex.quote(path)}")
        reply = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        match = re.fullmatch(r"(\d+)\[\](\..*)?", reply)
        if not match:
            raise RuntimeError(f"qsub answered {reply[:80]!r}, not an array job id")
        suffix = match[2] or ""
        return {pilot.tag: f"{match[1]}[{position}]{suffix}" for position, pilot in enumerate(submission.pilots)}

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        if not pilots:
            return {}
        command = 'qstat -f -t -u "$(id -un)"' if self.torque else 'qstat -f -t -F json -u "$(id -un)"'
        listing, markers = await queue_and_markers(executor, "qstat", command, pilots, workdir)
        queue = our_subjobs(parse_qstat_full(listing), prefixes(pilots))
        return {p.tag: status for p in pilots if (status := pbs_status(queue.get(p.tag), markers.get(p.tag))) is not None}

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None:
        await cancel_ids(executor, "qdel", pilots, r"\d+\[\d+\].*")

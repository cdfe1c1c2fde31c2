"""Son of Grid Engine / Univa / Oracle Grid Engine: `qsub -t` arrays, `qstat -xml`, `qdel -t`.

Array task ids are the pilot indexes plus one (SGE counts tasks from 1; one `qsub -t A-B` per
contiguous run) and the job name is the cluster's tag prefix, so `qstat` alone says which pilot
every task is:
the engine recognises its own jobs after a crash and touches no other job.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

from vc3tui.engine.pilot import Markers, from_markers, stage_written
from vc3tui.engine.batch.jobs import clock, prefixes, queue_and_markers, run_wrapper, site_directives, stage_and_submit, tag_prefix
from vc3tui.engine.interfaces import Executor, JobStatus, Submission
from vc3tui.engine.models import BatchKind, Pilot
from vc3tui.engine.states import PilotState
from vc3tui.engine.numbers import whole_number
from vc3tui.engine.batch.jobs import MAX_ARRAY

def runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """[3, 4, 5, 9] -> [(3, 5), (9, 9)]: one array submission per contiguous run."""
    out: list[tuple[int, int]] = []
    for index in sorted(indexes):
        if out and index == out[-1][1] + 1:
            out[-1] = (out[-1][0], index)
        else:
            out.append((index, index))
    return out


def expand_tasks(text: str) -> list[int]:
    """SGE task field: '7', '9-20:1', '1-9:2', or comma lists of those."""
    tasks: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?", part.strip())
        if match:
            low, high, step = int(match[1]), int(match[2] or match[1]), int(match[3] or 1)
            if step and len(tasks) + (high - low) // step < MAX_ARRAY:
                tasks.extend(range(low, high + 1, step))
    return tasks


def parse_qstat_xml(text: str, prefixes: set[str]) -> dict[str, tuple[str, str]]:
    """tag -> (job id 'JOB.TASK', SGE state letters) for our tasks; anything unparsable is skipped."""
    found: dict[str, tuple[str, str]] = {}
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return found
    for job in root.iter("job_list"):
        name, number = job.findtext("JB_name", ""), job.findtext("JB_job_number", "")
        if name not in prefixes or whole_number(number) is None:
            continue
        state = job.findtext("state", "") or ""
        for task in expand_tasks(job.findtext("tasks", "") or ""):
            found[f"{name}-{task - 1}"] = (f"{number}.{task}", state)
    return found


def sge_status(entry: tuple[str, str] | None, markers: Markers | None) -> JobStatus | None:
    if entry is not None:
        job_id, letters = entry
        stage = stage_written(markers)
        if "E" in letters:
            return JobStatus(PilotState.HELD, native=letters, reason="error state (Eqw): see `qstat -j` on the site", job_id=job_id)
        if "h" in letters or "s" in letters or "S" in letters or "T" in letters:
            return JobStatus(PilotState.HELD, native=letters, reason=f"held or suspended ({letters})", job_id=job_id)
        if "d" in letters:
            return JobStatus(PilotState.RUNNING, native=letters, reason="being deleted", stage=stage, job_id=job_id)
        if "r" in letters or "t" in letters:
            return JobStatus(PilotState.RUNNING, native=letters, stage=stage, job_id=job_id)
        if "q" in letters or "w" in letters:
            return JobStatus(PilotState.QUEUED, native=letters, job_id=job_id)
    return from_markers(markers)


class SGEBatch:
    kind = BatchKind.SGE

    def render(self, submission: Submission, wrapper_path: str = "WRAPPER") -> str:
        shape = submission.shape
        prefix = tag_prefix(submission.pilots[0])
        directives = [
            f"-N {prefix}",
            "-S /bin/sh",
            "-cwd",
            "-j y",
            f"-o {shlex.quote(submission.workdir + '/pilots')}",
            f"-l h_rt={clock(shape.walltime)}",
        ]
        if shape.cores > 1:
            directives.append(f"-pe smp {shape.cores}")
        directives += site_directives(shape, "-P")
        lines = ["#!/bin/sh", *(f"#$ {d}" for d in directives)]
        return "\n".join(lines + run_wrapper(wrapper_path, f'{shlex.quote(prefix)}-"$((SGE_TASK_ID - 1))"'))

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        tasks = runs([p.index + 1 for p in submission.pilots])

        def qsub(path: str) -> str:
            return f"cd {shlex.quote(submission.workdir)}\n" + "\n".join(f"qsub -terse -t {low}-{high} {shlex.quote(path)}" for low, high in tasks)

        result = await stage_and_submit(executor, submission, self.render, "array.sge", qsub)
        jobs = [line.split(".")[0] for line in result.stdout.split() if re.fullmatch(r"\d+(\.\S+)?", line)]
        if len(jobs) != len(tasks):
            raise RuntimeError(f"qsub answered {result.stdout.strip()[:80]!r}, not job ids")
        return {
            pilot.tag: f"{job}.{pilot.index + 1}"
            for (low, high), job in zip(tasks, jobs)
            for pilot in submission.pilots
            if low <= pilot.index + 1 <= high
        }

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        if not pilots:
            return {}
        listing, markers = await queue_and_markers(executor, "qstat", 'qstat -xml -u "$(id -un)"', pilots, workdir)
        queue = parse_qstat_xml(listing, prefixes(pilots))
        return {p.tag: status for p in pilots if (status := sge_status(queue.get(p.tag), markers.get(p.tag))) is not None}

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None:
        by_job: dict[str, list[int]] = {}
        for pilot in pilots:
            if pilot.job_id and re.fullmatch(r"\d+\.\d+", pilot.job_id):
                job, task = pilot.job_id.split(".")
                by_job.setdefault(job, []).append(int(task))
        commands = "".join(f"qdel {job} -t {low}-{high}\n" for job, tasks in by_job.items() for low, high in runs(tasks))
        if commands:
            await executor.run_script(commands, timeout=120)

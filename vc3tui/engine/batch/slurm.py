"""SLURM: N pilots in one `sbatch --array`, all of a cluster's pilots in one status round trip,
many cancelled in one `scancel`.

Array task K runs the K-th pilot of the submission; the job's comment, `vc3tui PREFIX INDEXES`,
names the cluster (installation id + cluster id) and the pilot index of each task, so the engine
recognises its own jobs by tag, even those whose submission it never saw answered, and touches
no other job. The status script runs `squeue -r` (array tasks one by one; ids that left the queue
are simply absent) and reads the pilots' own markers in the same round trip.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from vc3tui.engine.pilot import Markers, from_markers, parse_probe, render_probe, stage_written
from vc3tui.engine.batch.jobs import cancel_ids, compress, expand, prefixes, run_pilot_at, stage_and_submit, tag_prefix
from vc3tui.engine.interfaces import Executor, JobStatus, Submission
from vc3tui.engine.models import BatchKind, Pilot
from vc3tui.engine.tags import job_name
from vc3tui.engine.states import PilotState
from vc3tui.engine.numbers import whole_number

SQUEUE_FORMAT = "%i|%T|%r|%k|%N"
SQUEUE_END = "@@vc3tui-squeue-status"
COMMENT = "vc3tui"

QUEUED = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "CONFIGURING", "RESIZING"}
RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}
HELD = {"SUSPENDED", "STOPPED"}
DONE = {"COMPLETED"}
FAILED = {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT"}
CANCELLED = {"CANCELLED", "REVOKED"}


def walltime(seconds: int) -> str:
    """SLURM's D-HH:MM:SS, rounded up to the minute (SLURM counts whole minutes)."""
    minutes = -(-seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00"


class SlurmBatch:
    """Stateless but for memos of parsed lines: at 10,000 pilots most lines are the same from one
    cycle to the next, and a line seen before costs one dictionary lookup instead of a parse."""

    kind = BatchKind.SLURM

    def __init__(self) -> None:
        self._seen: dict[tuple[str | None, str | None], JobStatus | None] = {}
        self._lines: dict[str, tuple[str, str] | None] = {}  # squeue line -> (tag, tag prefix)
        self._last_answer: tuple[str, str, list[str], dict[str, JobStatus]] = ("", "", [], {})

    def render(self, submission: Submission, wrapper_path: str = "WRAPPER") -> str:
        """The array job script: task K runs the pilot whose index is the K-th in the comment."""
        pilots = submission.pilots
        shape = submission.shape
        prefix = tag_prefix(pilots[0])
        indexes = [p.index for p in pilots]
        directives = [
            f"--job-name={job_name(pilots[0].tag)}",
            f"--comment={COMMENT} {prefix} {compress(indexes)}",
            f"--array=0-{len(pilots) - 1}",
            "--nodes=1",
            "--ntasks=1",
            f"--cpus-per-task={shape.cores}",
            f"--mem={shape.memory_mb}M",
            f"--time={walltime(shape.walltime)}",
            f"--output={submission.workdir}/pilots/slurm-%A_%a.out",
        ]
        if shape.partition:
            directives.append(f"--partition={shape.partition}")
        if shape.account:
            directives.append(f"--account={shape.account}")
        directives += shape.options
        lines = ["#!/bin/sh", *(f"#SBATCH {shlex.quote(d)}" for d in directives)]
        return "\n".join(lines + run_pilot_at(pilots, wrapper_path, "$SLURM_ARRAY_TASK_ID"))

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        result = await stage_and_submit(executor, submission, self.render, "array.sbatch", lambda path: f"sbatch --parsable {shlex.quote(path)}")
        job = result.stdout.strip().splitlines()[-1].split(";")[0] if result.stdout.strip() else ""
        if whole_number(job) is None:
            raise RuntimeError(f"sbatch answered {result.stdout.strip()[:80]!r}, not a job id")
        return {pilot.tag: f"{job}_{position}" for position, pilot in enumerate(submission.pilots)}

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        if not pilots:
            return {}
        script = (
            f"squeue -h -r -u \"$(id -un)\" -o {shlex.quote(SQUEUE_FORMAT)} 2>&1; echo {SQUEUE_END} $?\n"
            + render_probe(f"{workdir}/pilots", {p.tag: None for p in pilots})
        )
        result = await executor.run_script(script, timeout=120)
        queue_text, found, probe_text = result.stdout.partition(SQUEUE_END)
        code = probe_text.split(maxsplit=1)[0] if found and probe_text.split() else ""
        if code != "0":
            error = queue_text.strip().splitlines()[-1] if queue_text.strip() else result.stderr.strip()
            raise RuntimeError(f"squeue failed: {error or 'no answer'}")
        tags = [p.tag for p in pilots]
        if (queue_text, probe_text, tags) == self._last_answer[:3]:
            return dict(self._last_answer[3])  # nothing moved on the site since the last cycle
        ours = prefixes(pilots)
        queue = {}
        parsed, self._lines = self._lines, {}
        for line in queue_text.splitlines():
            entry = parsed.get(line, False)
            if entry is False:
                tag = next(iter(parse_squeue(line, {_comment_prefix(line)})), None)
                entry = (tag, tag.rsplit("-", 1)[0]) if tag else None
            self._lines[line] = entry
            if entry and entry[1] in ours:
                queue[entry[0]] = line
        probe_lines = probe_text.split("\n", 1)[1].splitlines() if "\n" in probe_text else []
        markers = {line.split(" ", 1)[0]: line for line in probe_lines}
        seen, self._seen = self._seen, {}
        found, vanished = {}, []
        for pilot in pilots:
            key = (queue.get(pilot.tag), markers.get(pilot.tag))
            status = seen[key] if key in seen else self._combine(*key)
            self._seen[key] = status
            if status is not None:
                found[pilot.tag] = status
            elif pilot.job_id:
                vanished.append(pilot)
        if vanished:
            found |= await self._accounting(executor, vanished)
        self._last_answer = (queue_text, probe_text, tags, dict(found))
        return found

    def _combine(self, queue_line: str | None, marker_line: str | None) -> JobStatus | None:
        queued = next(iter(parse_squeue(queue_line, {_comment_prefix(queue_line)}).values()), None) if queue_line else None
        markers = next(iter(parse_probe(marker_line).values()), None) if marker_line else None
        return combine(queued, markers)

    async def _accounting(self, executor: Executor, pilots: Sequence[Pilot]) -> dict[str, JobStatus]:
        """sacct's word on jobs that left the queue without an exit marker, where accounting runs."""
        result = await executor.run(
            ["sacct", "-n", "-P", "-X", "-j", ",".join(p.job_id for p in pilots if p.job_id), "-o", "JobID,State,ExitCode"],
            timeout=120,
        )
        if not result.ok:
            return {}
        by_job = parse_sacct(result.stdout)
        return {p.tag: by_job[p.job_id] for p in pilots if p.job_id in by_job}

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None:
        await cancel_ids(executor, "scancel", pilots, r"\d+(_\d+)?")


def parse_squeue(text: str, prefixes: set[str]) -> dict[str, tuple[str, str, str, str]]:
    """tag -> (job id, state, reason, node) for our jobs; other lines (other jobs, noise) are skipped."""
    found = {}
    ours: dict[str, tuple[str, tuple[int, ...]] | None] = {}  # comment -> (tag prefix, pilot indexes)
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 5:
            continue
        job_id, state, reason, comment, node = fields
        if comment not in ours:
            words = comment.split()
            ok = len(words) == 3 and words[0] == COMMENT and words[1] in prefixes
            ours[comment] = (words[1], expand(words[2])) if ok else None
        entry = ours[comment]
        if entry is None:
            continue
        task = job_id.partition("_")[2]
        position = whole_number(task)
        if position is not None and position < len(entry[1]):
            found[f"{entry[0]}-{entry[1][position]}"] = (job_id, state.strip(), reason.strip(), node.strip())
    return found


def _comment_prefix(line: str) -> str:
    fields = line.split("|")
    words = fields[3].split() if len(fields) == 5 else []
    return words[1] if len(words) == 3 else ""


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """job id -> final status, from `sacct -n -P -o JobID,State,ExitCode`."""
    found = {}
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 3:
            continue
        job_id, state, exit_code = fields
        state = state.split()[0] if state.split() else ""
        code = whole_number(exit_code.split(":")[0])
        if state in DONE and code in (0, None):
            found[job_id] = JobStatus(PilotState.DONE, native=state, reason="completed (sacct)", exit_code=code, job_id=job_id)
        elif state in CANCELLED:
            found[job_id] = JobStatus(PilotState.DONE, native=state, reason="cancelled (sacct)", exit_code=code, job_id=job_id)
        elif state in DONE | FAILED:
            found[job_id] = JobStatus(PilotState.FAILED, native=state, reason=f"{state.lower()} (sacct), exit {exit_code}", exit_code=code, job_id=job_id)
    return found


def combine(queued: tuple[str, str, str, str] | None, markers: Markers | None) -> JobStatus | None:
    """The queue's word while the job is in it; the pilot's own exit marker once it has left."""
    if queued is not None:
        job_id, state, reason, node = queued
        native_reason = "" if reason in ("None", "(null)") else reason
        stage = stage_written(markers)
        if state in RUNNING:
            return JobStatus(PilotState.RUNNING, native=state, reason=native_reason, stage=stage, host=node or None, job_id=job_id)
        if state in HELD or "Held" in reason or "held" in reason:
            return JobStatus(PilotState.HELD, native=state, reason=native_reason or state.lower(), job_id=job_id)
        if state in QUEUED:
            return JobStatus(PilotState.QUEUED, native=state, reason=native_reason, job_id=job_id)
        if state in FAILED:
            return JobStatus(PilotState.FAILED, native=state, reason=f"{state.lower()} {native_reason}".strip(), stage=stage, job_id=job_id)
        if state in DONE | CANCELLED:
            code = markers.exit_code if markers else None
            state_name = PilotState.DONE if state in CANCELLED or code in (None, 0) else PilotState.FAILED
            return JobStatus(state_name, native=state, reason=state.lower(), stage=stage, exit_code=code, job_id=job_id)
    return from_markers(markers)

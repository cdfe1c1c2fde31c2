"""The `fork` batch system: pilots as detached local processes, each its own session and group.

There is no queue: a pilot is running from the moment it is spawned. Its pid (also its process
group) is the job id, checked against the pilot's tag in its command line so a reused pid is
never mistaken for our pilot; its exit marker says how it ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from vc3tui.engine.pilot import Markers, ended_with, monitored_wrapper, parse_probe, render_probe, render_wrapper
from vc3tui.engine.interfaces import CommandFailed, Executor, JobStatus, Submission
from vc3tui.engine.shell import kill_groups_script
from vc3tui.engine.models import BatchKind, Pilot
from vc3tui.engine.staging import stage_files, staged_path
from vc3tui.engine.states import PilotStage, PilotState
from vc3tui.engine.numbers import whole_number


class ForkBatch:
    kind = BatchKind.FORK

    def render(self, submission: Submission) -> str:
        return render_wrapper(f"{submission.workdir}/pilots", submission.builder, submission.command, submission.env)

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        script, monitor = monitored_wrapper(submission)
        path = staged_path(script.encode(), submission.workdir, "pilot.sh")
        pilot_dirs = [f"{submission.workdir}/pilots/{pilot.tag}" for pilot in submission.pilots]
        await stage_files(executor, [monitor, (script.encode(), path)], dirs=pilot_dirs)
        started: dict[str, str] = {}
        for pilot, pilot_dir in zip(submission.pilots, pilot_dirs):
            pid = await executor.spawn(
                ["sh", path, pilot.tag], log_path=f"{pilot_dir}/pilot.log", pid_file=f"{pilot_dir}/pid"
            )
            started[pilot.tag] = str(pid)
        return started

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        if not pilots:
            return {}
        known = {p.tag: whole_number(p.job_id or "") for p in pilots}
        result = await executor.run_script(render_probe(f"{workdir}/pilots", known), timeout=60)
        if not result.ok:
            raise CommandFailed(result)
        return {tag: job_status(m) for tag, m in parse_probe(result.stdout).items() if m.exists}

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None:
        groups = [n for n in (whole_number(p.job_id or "") for p in pilots) if n is not None]
        if groups:
            await executor.run_script(kill_groups_script("TERM", groups), timeout=30)


def job_status(markers: Markers) -> JobStatus:
    """Map one pilot's markers to a state: alive is running; an exit marker says done or failed."""
    if markers.alive:
        return JobStatus(
            PilotState.RUNNING,
            native="alive",
            stage=markers.stage or PilotStage.STARTED,
            host=markers.host,
            job_id=str(markers.pid),
        )
    if markers.exit_code is not None:
        state, reason = ended_with(markers.exit_code)
        return JobStatus(
            state, native="exited", reason=reason, stage=markers.stage, exit_code=markers.exit_code, host=markers.host
        )
    if markers.pid is None:
        return JobStatus(PilotState.INTENT, native="not started")
    return JobStatus(PilotState.LOST, native="gone", reason="process gone without an exit marker", host=markers.host)

"""What the batch systems share: staging a submission and its pilots' dirs in one round trip,
array index ranges, walltimes, one cancel and one status query for many pilots."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Sequence

from vc3tui.engine.crashpoints import crash_point
from vc3tui.engine.interfaces import CommandFailed, CommandResult, Executor, PilotShape, Submission
from vc3tui.engine.models import Pilot
from vc3tui.engine.numbers import whole_number
from vc3tui.engine.pilot import Markers, monitored_wrapper, parse_probe, render_probe
from vc3tui.engine.staging import staged_path, staging_lines

def tag_prefix(pilot: Pilot) -> str:
    return pilot.tag.rsplit("-", 1)[0]


def prefixes(pilots: Sequence[Pilot]) -> set[str]:
    """The tag prefixes (clusters) of `pilots`: what a queue listing is filtered by."""
    return {tag_prefix(p) for p in pilots}


def compress(indexes: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> '3-5,9'."""
    parts, run = [], []
    for index in sorted(indexes):
        if run and index == run[-1] + 1:
            run.append(index)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [index]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


MAX_ARRAY = 100_000
"""No array of ours is larger: a garbled range beyond it is ignored, not expanded into memory."""


@functools.lru_cache(maxsize=1024)
def expand(ranges: str) -> tuple[int, ...]:
    """'3-5,9' -> (3, 4, 5, 9); remembered, since every task of an array carries the same ranges."""
    out: list[int] = []
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        first, last = whole_number(low), whole_number(high or low)
        if first is not None and last is not None and len(out) + last - first < MAX_ARRAY:
            out.extend(range(first, last + 1))
    return tuple(out)


def clock(seconds: int, hours_width: int = 1) -> str:
    """A walltime as H:MM:SS (at least a minute), hours zero-padded to `hours_width` digits."""
    hours, rest = divmod(max(60, seconds), 3600)
    return f"{hours:0{hours_width}d}:{rest // 60:02d}:{rest % 60:02d}"


async def stage_and_submit(
    executor: Executor,
    submission: Submission,
    render_job: Callable[[Submission, str], str],
    name: str,
    submit: Callable[[str], str],
) -> CommandResult:
    """Put the monitor, the wrapper and the job script on the site (each named by its content,
    staging.py) and every pilot's dir, then run `submit(job script path)` (shell text), all in one
    round trip; its answer, checked by `submitted`."""
    wrapper, monitor = monitored_wrapper(submission)
    wrapper_path = staged_path(wrapper.encode(), submission.workdir, "pilot.sh")
    job = render_job(submission, wrapper_path).encode()
    script_path = staged_path(job, submission.workdir, name)
    base = f"{submission.workdir}/pilots"
    lines = staging_lines([monitor, (wrapper.encode(), wrapper_path), (job, script_path)], [base])
    lines += pilot_dirs_lines(base, submission.pilots)
    return submitted(await executor.run_script("\n".join([*lines, submit(script_path)]) + "\n", timeout=120))


DIRS_PER_MKDIR = 1000
"""Pilot dirs named on one `mkdir` line: 10,000 tags on one line would pass some sites' ARG_MAX."""


def pilot_dirs_lines(base: str, pilots: Sequence[Pilot]) -> list[str]:
    """Lines that make the pilots' own dirs at submission: where the nodes share the login node's
    files, a starting pilot then starts no `mkdir` (on a node where many start at once, every
    process delays the others' workers); elsewhere the wrapper makes its own."""
    tags = [shlex.quote(pilot.tag) for pilot in pilots]
    return [f"(cd {shlex.quote(base)} && mkdir -p {' '.join(tags[i:i + DIRS_PER_MKDIR])})" for i in range(0, len(tags), DIRS_PER_MKDIR)]


def site_directives(shape: PilotShape, account_flag: str) -> list[str]:
    """The queue, the account and the site's own options, as a batch script's directives."""
    directives = [f"-q {shlex.quote(shape.partition)}"] if shape.partition else []
    if shape.account:
        directives.append(f"{account_flag} {shlex.quote(shape.account)}")
    return directives + [shlex.quote(option) for option in shape.options]


def run_pilot_at(pilots: Sequence[Pilot], wrapper_path: str, position: str) -> list[str]:
    """Job script lines that run the pilot at `position` (a shell expression for the array
    element's 0-based place) of the submission, through the wrapper."""
    prefix = tag_prefix(pilots[0])
    return [
        f"set -- {' '.join(str(p.index) for p in pilots)}",
        f'shift "{position}"',
        *run_wrapper(wrapper_path, f'{shlex.quote(prefix)}-"$1"'),
    ]


def run_wrapper(wrapper_path: str, tag: str) -> list[str]:
    """Job script lines that become the pilot `tag` (shell text): the job's shell reads the wrapper
    itself, as `sh WRAPPER TAG` would but with one program start less per pilot (a node starting
    many pilots at once spends its time on those); the pid, process group and traps are the job's."""
    return [f"set -- {tag}", f". {shlex.quote(wrapper_path)}", ""]


def submitted(result: CommandResult) -> CommandResult:
    """The submit command's answer: a crash point for the tests, and a refusal raised as one."""
    crash_point("after-submit-before-reply")
    if not result.ok:
        raise CommandFailed(result)
    return result


async def cancel_ids(executor: Executor, command: str, pilots: Sequence[Pilot], id_pattern: str) -> None:
    """One cancel command for every pilot whose job id looks like this batch system's own."""
    ids = [p.job_id for p in pilots if p.job_id and re.fullmatch(id_pattern, p.job_id)]
    if ids:
        await executor.run([command, *ids], timeout=120)


QUEUE_END = "@@vc3tui-queue-status"


async def queue_and_markers(
    executor: Executor, program: str, queue_command: str, pilots: Sequence[Pilot], workdir: str
) -> tuple[str, dict[str, Markers]]:
    """One round trip: the batch system's listing (its exit status checked) and every pilot's markers."""
    script = f"{queue_command} 2>&1; echo {QUEUE_END} $?\n" + render_probe(f"{workdir}/pilots", {p.tag: None for p in pilots})
    result = await executor.run_script(script, timeout=120)
    listing, found, rest = result.stdout.partition(QUEUE_END)
    if not found or not rest.split() or rest.split()[0] != "0":
        last = listing.strip().splitlines()[-1] if listing.strip() else (result.stderr.strip() or "no answer")
        raise RuntimeError(f"{program} failed: {last}")
    return listing, parse_probe(rest.split("\n", 1)[1] if "\n" in rest else "")

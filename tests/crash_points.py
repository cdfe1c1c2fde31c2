"""The engine killed at each crash point of a submission, then the run started again: it must
converge on exactly the pilots it meant, submitted once, whatever the batch system."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import ROOT
from tests.waiting import wait_until
from vc3tui.engine.engine import Engine
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import PilotState

POINTS = ["after-intent", "after-submit-before-reply", "after-reply-before-commit"]


async def crash_then_resume(
    point: str, blueprint: Path, count: int, jobs: Callable[[str], list[str]], submission_of: Callable[[str], str], new_engine: Callable[..., Engine]
) -> None:
    """`vc3tui --run blueprint` killed at `point`, then run again: `jobs(cluster id)` lists the
    batch system's jobs of the cluster, `submission_of(job)` the submission a job came in."""
    command = [sys.executable, "-m", "vc3tui", "--run", str(blueprint), "--json", "--no-input"]
    first = subprocess.run(command, env={**os.environ, "VC3TUI_CRASH_AT": point}, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert first.returncode == 86, first.stdout + first.stderr
    engine = new_engine(Dirs.from_environment(), interactive=False)
    cluster = await engine.live_cluster(blueprint.stem)
    pilots = await engine.pilots(cluster.id)
    await engine.close()
    if point == "after-intent":
        assert jobs(cluster.id) == [] and len(pilots) == count and all(p.state is PilotState.INTENT for p in pilots)
    else:
        assert len(jobs(cluster.id)) == count and all(p.job_id is None for p in pilots), "submitted, the reply lost"
    folder = blueprint.parent
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        wait_until(lambda: (folder / "entry-started").exists() or second.poll() is not None, 240, "the resumed run")
        found = jobs(cluster.id)
        assert len(found) == count and len(set(found)) == count, found
        assert len({submission_of(job) for job in found}) == 1, "one submission, submitted once"
        engine = new_engine(Dirs.from_environment(), interactive=False)
        pilots = await engine.pilots(cluster.id)
        await engine.close()
        assert sorted(p.job_id for p in pilots) == sorted(found), "no second intent for any pilot"
        (folder / "release").touch()
        assert second.wait(timeout=180) == 0
    finally:
        if second.poll() is None:
            second.send_signal(signal.SIGKILL)
    events = [json.loads(line) for line in second.communicate()[0].splitlines() if line.startswith("{")]
    if point != "after-intent":
        assert any(e["kind"] == "adopt" for e in events)
    assert jobs(cluster.id) == []

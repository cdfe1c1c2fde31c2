"""The last words of a pilot's (or the head's) log, for the reason a failure shows: the builder's
own verdict when it gave one, else the log's last lines."""

from __future__ import annotations

from vc3tui.engine.site import Site
from vc3tui.engine.states import PilotStage

BUILDER_ERROR = "vc3-builder: error:"
"""How the builder starts the line that says why it failed."""
LOG_TAIL_LINES = 5


async def log_tail(site: Site, pilot_dir: str, stage: PilotStage | None) -> str:
    name = "build.log" if stage in (None, PilotStage.STARTED, PilotStage.BUILDING) else "worker.log"
    result = await site.executor.run(["tail", "-n", str(LOG_TAIL_LINES), f"{pilot_dir}/{name}"], timeout=30)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    errors = [n for n, line in enumerate(lines) if line.startswith(BUILDER_ERROR)]
    if errors:  # the builder's own verdict, not the plan log before it
        lines = [lines[errors[-1]].removeprefix(BUILDER_ERROR).strip(), *lines[errors[-1] + 1 :]]
    return " | ".join(lines[-LOG_TAIL_LINES:]) or f"no output in {pilot_dir}/{name}"

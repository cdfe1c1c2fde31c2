"""The pilot monitor on real processes: a pilot ends when its head is unreachable or its worker
idles, never while the worker computes, and marks itself joined when the worker says so."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from vc3tui.engine.states import PilotStage, PilotState

from tests.fork_pilots import ended, run_pilot
from tests.waiting import wait_until_awaited as wait_for

pytestmark = pytest.mark.timeout(120)
BUSY = ["python3", "-c", "import time\nend = time.time() + 600\nwhile time.time() < end: pass"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_pilot_whose_head_is_gone_ends_within_its_timeout(tmp_path: Path, cleanup: list[int]) -> None:
    env = {"VC3_HEAD_ADDRESS": f"127.0.0.1:{closed_port()}", "VC3_HEAD_TIMEOUT": "3"}
    _, status = await run_pilot(tmp_path, cleanup, ["sleep", "600"], env)
    started = time.monotonic()
    stopped = await wait_for(ended(status), timeout=40)
    assert (stopped.state, stopped.exit_code) == (PilotState.DONE, 122)
    assert stopped.reason == "ended by its monitor: the head was unreachable"
    assert time.monotonic() - started < 30
    assert "unreachable for" in next(tmp_path.glob("pilots/*/ended")).read_text()


async def test_reachable_head_and_busy_worker_keep_the_pilot(tmp_path: Path, cleanup: list[int]) -> None:
    with socket.socket() as head:
        head.bind(("127.0.0.1", 0))
        head.listen(16)
        env = {"VC3_HEAD_ADDRESS": f"127.0.0.1:{head.getsockname()[1]}", "VC3_HEAD_TIMEOUT": "3", "VC3_IDLE_TIMEOUT": "6"}
        _, status = await run_pilot(tmp_path, cleanup, BUSY, env)
        await wait_for(lambda: _at(status, PilotStage.WORKER_STARTED), timeout=30)
        time.sleep(15)
        assert (await status()).state is PilotState.RUNNING, "a computing worker with a live head is never ended"


async def test_idle_worker_ends_its_pilot(tmp_path: Path, cleanup: list[int]) -> None:
    _, status = await run_pilot(tmp_path, cleanup, ["sleep", "600"], {"VC3_IDLE_TIMEOUT": "6"})
    stopped = await wait_for(ended(status), timeout=40)
    assert (stopped.state, stopped.exit_code, stopped.reason) == (PilotState.DONE, 123, "ended by its monitor: the worker was idle")


async def test_worker_log_line_marks_the_pilot_joined(tmp_path: Path, cleanup: list[int]) -> None:
    command = ["sh", "-c", "sleep 1; echo 'noise'; echo 'connected to manager 127.0.0.1:9 via local address x'; exec sleep 600"]
    _, status = await run_pilot(tmp_path, cleanup, command, {"VC3_JOINED_LINE": "connected to manager"})
    joined = await wait_for(lambda: _at(status, PilotStage.WORKER_JOINED), timeout=30)
    assert joined.state is PilotState.RUNNING


async def _at(status, stage: PilotStage):
    found = await status()
    return found if found.stage is stage else None

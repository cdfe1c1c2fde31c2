"""The local executor's spawn on real processes: the head and fork pilots start through it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vc3tui.engine.executors.local import LocalExecutor

from tests.waiting import wait_until_async

pytestmark = pytest.mark.timeout(60)


async def test_a_spawned_process_leads_its_own_session_and_writes_its_pid_file(tmp_path: Path, cleanup: list[int]) -> None:
    where = tmp_path / "cwd"
    where.mkdir()
    argv = ["sh", "-c", "pwd > here; echo out; echo err >&2; sleep 30", "vc3-tag-0"]
    pid = await LocalExecutor().spawn(argv, log_path=str(tmp_path / "log"), pid_file=str(tmp_path / "pid"), cwd=str(where), env={"X": "1"})
    cleanup.append(pid)
    assert (tmp_path / "pid").read_text().strip() == str(pid), "written by the time spawn returns"
    assert os.getsid(pid) == os.getpgid(pid) == pid
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"".join(a.encode() + b"\0" for a in argv), "running the command itself when spawn returns"
    await wait_until_async(lambda: (where / "here").exists() and "err" in (tmp_path / "log").read_text(), 10, "the command's output")
    assert (where / "here").read_text().strip() == str(where)
    assert oct((tmp_path / "log").stat().st_mode & 0o777) == "0o600"


async def test_a_spawned_process_that_ends_leaves_no_zombie(tmp_path: Path, cleanup: list[int]) -> None:
    pid = await LocalExecutor().spawn(["sh", "-c", "sleep 0.2"], log_path=str(tmp_path / "log"))
    cleanup.append(pid)

    def reaped() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            return state != "Z" and os.getsid(pid) != pid  # its pid taken by another since
        except (FileNotFoundError, ProcessLookupError):
            return True

    await wait_until_async(reaped, 10, "the ended process reaped")


async def test_a_command_that_cannot_start_says_so_in_its_log(tmp_path: Path) -> None:
    await LocalExecutor().spawn(["vc3tui-no-such-command"], log_path=str(tmp_path / "log"), pid_file=str(tmp_path / "pid"))
    await wait_until_async(lambda: "vc3tui-no-such-command" in (tmp_path / "log").read_text(), 10, "the shell's complaint")
    assert "not found" in (tmp_path / "log").read_text()

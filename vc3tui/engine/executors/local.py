"""The local executor: this machine, through asyncio subprocesses (no shell unless a script asks for one)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from vc3tui.engine.interfaces import CommandResult, Terminal
from vc3tui.engine.paths import write_whole
from vc3tui.engine.shell import START



class LocalExecutor:
    label = "local"
    python = sys.executable
    asks_person = False

    async def run(self, argv: Sequence[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None, timeout: float | None = None) -> CommandResult:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **env} if env else None,
                cwd=cwd,
            )
        except OSError as exc:
            return CommandResult(tuple(argv), 127, "", f"{argv[0]}: {exc.strerror}")
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            process.kill()
            await process.wait()
            raise
        return CommandResult(tuple(argv), process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))

    async def run_script(self, script: str, *, timeout: float | None = None) -> CommandResult:
        return await self.run(["sh", "-s"], stdin=script.encode(), timeout=timeout)

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        await asyncio.to_thread(write_whole, Path(path), data, mode)

    async def get(self, path: str) -> bytes:
        return await asyncio.to_thread(Path(path).read_bytes)

    async def spawn(self, argv: Sequence[str], *, log_path: str, pid_file: str = "", cwd: str | None = None, env: Mapping[str, str] | None = None) -> int:
        """Our child, but the leader of a session of its own, holding no pipe of ours: it outlives
        us, and is reaped if it ends while we run. Started by `sh` alone (a detaching interpreter
        cost each start a fiftieth of a second); it writes its pid file itself (START)."""
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            process = subprocess.Popen(
                ["sh", "-c", START, "sh", pid_file, cwd or "", *argv],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, **env} if env else None, start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(log)
        _reap_when_done(process)
        await _running(process, argv)
        return process.pid

    async def attach(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdout: int, stderr: int) -> int:
        """In the foreground, output to `stdout` and `stderr`; it gets SIGTERM if we die."""
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env={**os.environ, **env}, stdout=stdout, stderr=stderr, preexec_fn=_die_with_parent
        )
        try:
            return await process.wait()
        except asyncio.CancelledError:
            process.terminate()
            await process.wait()
            raise

    async def interact(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, terminal: Terminal) -> int:
        """On this terminal, which the process inherits as it is; the event loop keeps running
        (factories go on) while it does."""
        process = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env={**os.environ, **env})
        return await process.wait()

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    async def close(self) -> None:
        return None


async def _running(process: subprocess.Popen[bytes], argv: Sequence[str]) -> None:
    """Until a spawned process runs `argv` itself (or has ended): before that, in the middle of its
    exec, the kernel can show its command line blank or cut short, and a probe would take a live
    pilot for a gone one. A few thousandths of a second; where there is no /proc, at once."""
    expected = b"".join(part.encode() + b"\0" for part in argv)
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if cmdline.read_bytes() == expected:
                return
        except OSError:
            return
        await asyncio.sleep(0.001)


def _reap_when_done(process: subprocess.Popen[bytes]) -> None:
    """Collect a spawned process's exit status once it ends, so it leaves no zombie while we run."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # before Linux 5.3: a thread waits for it
        threading.Thread(target=process.wait, daemon=True).start()
        return
    loop = asyncio.get_running_loop()

    def ended() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        process.wait()

    loop.add_reader(pidfd, ended)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the engine dies, so no entry point outlives its runner."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

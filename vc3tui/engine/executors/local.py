"""The local executor: this machine, through asyncio subprocesses (no shell unless a script asks for one)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from vc3tui.engine.executors import DETACH
from vc3tui.engine.interfaces import CommandFailed, CommandResult


class LocalExecutor:
    label = "local"
    python = sys.executable

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
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
        await asyncio.to_thread(_write_atomically, Path(path), data, mode)

    async def get(self, path: str) -> bytes:
        return await asyncio.to_thread(Path(path).read_bytes)

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        log_path: str,
        pid_file: str = "",
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> int:
        result = await self.run([self.python, "-c", DETACH, log_path, cwd or "", pid_file, *argv], env=env, timeout=30)
        if not result.ok:
            raise CommandFailed(result)
        return int(result.stdout.strip())

    async def attach(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdout: int) -> int:
        """In the foreground, output to `stdout` and our stderr; it gets SIGTERM if we die."""
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env={**os.environ, **env}, stdout=stdout, preexec_fn=_die_with_parent
        )
        try:
            return await process.wait()
        except asyncio.CancelledError:
            process.terminate()
            await process.wait()
            raise

    async def interact(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str) -> int:
        """On this terminal; the event loop keeps running (factories go on) while it does."""
        process = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env={**os.environ, **env})
        return await process.wait()

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        return host, port

    async def close(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the engine dies, so no entry point outlives its runner."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

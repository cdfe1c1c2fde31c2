"""Validation against a real OpenSSH sshd, stage by stage: every bad input fails at its stage
with its fix; and a remote shell with a terminal over the kept connection."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Allocation, BatchKind
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import QuestionKind
from vc3tui.engine.states import AllocationState
from vc3tui.engine.store import Store

from tests.ssh_site import engine_with
from tests.testbed.sshd import PASSWORD

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def site(ssh_site):
    """Here every test's site is the plain sshd (not SLURM's login node)."""
    return ssh_site


async def failed_stage(engine: Engine, allocation: Allocation) -> tuple[str, str, str]:
    validated = await engine.access.validate(allocation)
    last = validated.report[-1]
    assert not last.ok and validated.state is not AllocationState.READY
    assert engine.store.store.allocation(allocation.name).report[-1] == last
    return last.stage, last.detail, last.fix


async def test_closed_port_fails_at_tcp_connect(site, new_engine: Callable[..., Engine]) -> None:
    from tests.testbed.sshd import free_port

    engine, answers, allocation, _ = await engine_with(new_engine, site, port=free_port())
    stage, detail, fix = await failed_stage(engine, allocation)
    assert stage == "TCP connect" and "does not answer" in detail and "port" in fix


async def test_wrong_password_and_wrong_code_fail_at_authenticate(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site, replies={QuestionKind.HOST_KEY: "yes", QuestionKind.PASSWORD: "wrong"})
    stage, detail, fix = await failed_stage(engine, allocation)
    assert stage == "authenticate" and "permission denied" in detail and "install the key" in fix
    engine, answers, allocation, _ = await engine_with(
        new_engine, site, name="lab2", port=site.mfa_port, replies={QuestionKind.HOST_KEY: "yes", QuestionKind.PASSWORD: PASSWORD, QuestionKind.OTP: "000000"}
    )
    stage, detail, _ = await failed_stage(engine, allocation)
    assert stage == "authenticate" and "permission denied" in detail


async def test_loose_key_permissions_are_refused_with_the_fix(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, pair = await engine_with(new_engine, site)
    pair.private.chmod(0o644)
    with pytest.raises(Exception, match=r"too open; run: chmod 600"):
        await engine.access.validate(allocation)
    assert engine.store.store.allocation("lab1").state is AllocationState.NEW


async def test_missing_batch_command_fails_at_its_stage(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site, batch=BatchKind.LSF)
    await engine.access.install_key(allocation)
    stage, detail, fix = await failed_stage(engine, allocation)
    assert (stage, detail) == ("batch commands", "bsub, bjobs, bkill not found on PATH")
    assert "lsf" in fix and "module" in fix


async def test_scratch_dir_is_expanded_on_the_site_and_checked(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site, scratch="$HOME/scratch-missing")
    await engine.access.install_key(allocation)
    stage, detail, fix = await failed_stage(engine, allocation)
    assert stage == "scratch writable" and f"{site.home}/scratch-missing" in detail


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_unknown_host_fails_at_resolve(home: Path) -> None:
    """In a network namespace of its own (no network at all), so the lookup leaves no trace outside."""
    store = Store(Dirs.from_environment().ensure().database)
    store.put_allocation(Allocation(name="far", resource="faraway", login="bob", key_path=None))
    store.close()
    Dirs.from_environment().user_resources.write_text("[resources.faraway]\nbatch = 'slurm'\nlogin_hosts = ['no-such-host.vc3tui-test.invalid']\n")
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "vc3tui", "--no-input", "allocation", "validate", "far"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if "unshare failed" in result.stderr:
        pytest.skip("network namespaces are not allowed here")
    assert result.returncode == 1, result.stderr
    assert "FAIL resolve host" in result.stdout and "does not resolve" in result.stdout
    assert "check the host name" in result.stdout


INTERACT = """
import asyncio, sys, termios
from vc3tui.engine.engine import Engine
from vc3tui.engine.paths import Dirs
from vc3tui.cli.terminal import LocalTerminal

async def main():
    engine = Engine(Dirs.from_environment(), interactive=False)
    try:
        executor = engine.access.executor(await engine.allocation(sys.argv[1]))
        before = termios.tcgetattr(0)
        code = await executor.interact(["sh", "-c", 'echo "interact-ok $GREETING"; tty; read line; echo "got $line"; exit 3'], env={"GREETING": "it's me"}, cwd=sys.argv[2], terminal=LocalTerminal())
        print(f"status {code} restored {termios.tcgetattr(0) == before}", flush=True)
    finally:
        await engine.close()

asyncio.run(main())
"""


async def test_an_interactive_shell_runs_over_the_kept_connection_with_a_terminal(site, new_engine: Callable[..., Engine]) -> None:
    """What `s` in the cluster view uses: a remote command with its own terminal, our keyboard
    passed through raw, and our terminal as it was afterwards (run on a pseudo-terminal here)."""
    import pty
    import subprocess
    import sys

    engine, answers, allocation, _ = await engine_with(new_engine, site)
    try:
        await engine.access.install_key(allocation)
    finally:
        answers.task.cancel()
        await engine.close()
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", INTERACT, allocation.name, str(site.home)], stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    try:
        deadline = asyncio.get_running_loop().time() + 60
        sent = False
        while asyncio.get_running_loop().time() < deadline:
            try:
                chunk = await asyncio.to_thread(os.read, leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if b"/dev/pts/" in output and not sent:
                os.write(leader, b"typed through\r")
                sent = True
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        os.close(leader)
    text = output.decode(errors="replace")
    assert "interact-ok it's me" in text and "/dev/pts/" in text, text
    assert "got typed through" in text and "status 3 restored True" in text, text

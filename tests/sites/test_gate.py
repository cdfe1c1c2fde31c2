"""The manager gate on real processes: the head host's listening sockets as the kernel lists them,
and pilots (fork batch) that hold their worker until the gate opens, or until their wait is over."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.gate import NOT_YET, TABLES, WAIT_FOR_LISTENER
from vc3tui.engine.states import PilotStage

from tests.fork_pilots import pilots, submission
from tests.waiting import wait_until_awaited as wait_for
from tests.waiting import wait_until_async

pytestmark = pytest.mark.timeout(120)


async def waits(port: int, seconds: float = 0.3, tables: tuple[str, ...] = TABLES) -> bool:
    """Whether the gate's waiter, run as the engine runs it, saw `port` listen within `seconds`."""
    executor = LocalExecutor()
    argv = [executor.python, "-c", WAIT_FOR_LISTENER, str(port), str(seconds), "0.01", *tables]
    result = await executor.run(argv, timeout=seconds + 30)
    assert result.returncode in (0, NOT_YET), result.stderr
    return result.ok


async def test_the_waiter_sees_the_kernels_listeners_only() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                assert await waits(port)
                assert not await waits(client.getsockname()[1]), "a connected socket is not a listener"
    assert not await waits(port)


async def test_the_waiter_sees_a_listener_that_starts_while_it_waits() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        waiting = asyncio.create_task(waits(server.getsockname()[1], seconds=30))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        server.listen()
        assert await asyncio.wait_for(waiting, 20)


async def test_the_waiter_reads_each_table_up_to_its_first_connection(tmp_path: Path) -> None:
    """Listeners first, as the kernel lists them (with, before Linux 4.4, their half-open requests
    among them); a line like a listener after the first connection is never read."""
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    tcp = tmp_path / "tcp"
    tcp.write_text(
        head
        + "   0: 0100007F:2383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
        + "   1: 0100007F:2383 0100007F:9C41 03 00000000:00000000 00:00000000 00000000     0        0 0\n"
        + "   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2\n"
        + "   3: 0100007F:9C40 0100007F:2383 01 00000000:00000000 00:00000000 00000000     0        0 3\n"
        + "   4: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4\n"
    )
    tcp6 = tmp_path / "tcp6"
    tcp6.write_text(head + "   garbage\n" + "   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 0 0 0 0 0 5\n")
    tables = (str(tcp), str(tcp6))
    assert await waits(0x2383, tables=tables)
    assert await waits(0x1F90, tables=tables), "past a half-open request"
    assert await waits(0x1F91, tables=tables), "in the second table, past a line that does not parse"
    assert not await waits(0x9C40, tables=tables), "a connection is not a listener"
    assert not await waits(0x0050, tables=tables)
    assert not await waits(0x2383, tables=(str(tmp_path / "missing"),))


async def run_gated(tmp_path: Path, cleanup: list[int], wait: int) -> tuple[ForkBatch, LocalExecutor, list, Path, Path]:
    """One fork-batch pilot whose worker writes `started`, held at a gate at tmp_path/gate."""
    batch, executor, group = ForkBatch(), LocalExecutor(), pilots(1)
    gate, started = tmp_path / "gate", tmp_path / "started"
    sub = submission(tmp_path, group, ["sh", "-c", f"echo yes > {started}; exec sleep 60"])
    sub = replace(sub, env={"VC3_MANAGER_GATE": str(gate), "VC3_MANAGER_WAIT": str(wait)})
    jobs = await batch.submit(executor, sub)
    cleanup.extend(int(j) for j in jobs.values())
    group[0].job_id = jobs[group[0].tag]
    return batch, executor, group, gate, started


async def test_a_pilot_starts_its_worker_when_the_gate_opens(tmp_path: Path, cleanup: list[int]) -> None:
    batch, executor, group, gate, started = await run_gated(tmp_path, cleanup, wait=60)

    async def stage():
        return (await batch.status(executor, group, str(tmp_path)))[group[0].tag].stage

    async def ready() -> bool:
        return await stage() is PilotStage.READY

    await wait_for(ready, timeout=30)
    await asyncio.sleep(1.0)
    assert await stage() is PilotStage.READY and not started.exists(), "no worker before the gate opens"

    gate.write_text("")
    await wait_until_async(started.exists, 30, "the worker, once the gate opened")
    assert await stage() is PilotStage.WORKER_STARTED


async def test_a_gate_that_never_opens_holds_the_worker_only_for_its_wait(tmp_path: Path, cleanup: list[int]) -> None:
    _, _, _, gate, started = await run_gated(tmp_path, cleanup, wait=1)
    await wait_until_async(started.exists, 30, "the worker, once the pilot stopped waiting")
    assert not gate.exists()

"""Secrets: private keys and middleware secrets are 0600 in 0700 folders; keys never leave this
machine; no secret is ever on a command line (where `ps` shows it on the site), and none is
written down: passwords typed in and middleware secrets are [redacted] in events and reasons."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import ROOT
from tests.slurm_site import slurm_allocation
from tests.testbed.sshd import PASSWORD, USER
from vc3tui.engine.engine import Engine
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware
from vc3tui.engine.models import AllocationUse, BatchKind, Blueprint, Event, HeadSpec, MiddlewareKind, Resource, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import QuestionKind
from vc3tui.engine.redaction import REDACTED
from vc3tui.engine.states import AllocationState, ClusterState
from vc3tui.engine.store import CycleWrites

pytestmark = pytest.mark.timeout(600)


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


def command_lines() -> dict[int, bytes]:
    """Every process's command line on this machine (the sites run here too)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isascii() and entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:
                continue
    return found


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


@pytest.mark.skipif(not shutil.which("work_queue_worker"), reason="cctools is not installed (tests/testbed/install-packages)")
async def test_a_running_cluster_keeps_its_secrets_private_and_off_every_command_line(cluster_home: Path, tmp_path: Path, engine: Engine) -> None:
    manager = None
    try:
        allocation, pair = await engine.access.create("lab1", "local", None)
        assert mode(pair.private) == "0o600" and mode(pair.private.parent) == "0o700"
        assert all(mode(path) == "0o700" for path in (engine.dirs.data, engine.dirs.config, engine.dirs.cache))
        blueprint = Blueprint(name="wq-secret", middleware=MiddlewareKind.WORKQUEUE, workers=WorkerSpec(count=1, walltime=600, idle_timeout=60),
                              allocations=[AllocationUse(name="local")], head=HeadSpec(listen="127.0.0.1"))  # fmt: skip
        cluster = await engine.launch(blueprint)
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 120)
        secrets_dir = engine.dirs.data / "clusters" / cluster.id / "secrets"
        assert mode(secrets_dir) == "0o700" and all(mode(p) == "0o600" for p in secrets_dir.iterdir())
        password = (secrets_dir / "wq-password").read_bytes().strip()
        env = {**os.environ, **WorkQueueMiddleware().client_environment(row.cluster)}
        manager = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "blueprints" / "wq_manager.py"), str(tmp_path / "log"), "2", "1"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        await engine.wait_for(cluster.id, lambda r: r.counts.joined == 1, 120)
        seen = command_lines()
        assert any(b"work_queue_worker" in line for line in seen.values()), "the worker runs, so the scan can see it"
        assert [pid for pid, line in seen.items() if password in line] == []

        await engine.invite("wq-secret", tmp_path / "ticket.toml")
        assert mode(tmp_path / "ticket.toml") == "0o600"

        await engine.bus.commit(CycleWrites(events=[Event(cluster_id=cluster.id, kind="pilot", message=f"worker said: password is {password.decode()}")]))
        assert [e.message for e in await engine.cluster_events(cluster.id)][-1] == f"worker said: password is {REDACTED}"
        await asyncio.to_thread(manager.communicate, timeout=120)
        await engine.terminate(cluster.id, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        assert set(files_containing(engine.dirs.data, password)) <= {secrets_dir / "wq-password"}, "nowhere but its own file"
    finally:
        if manager is not None and manager.poll() is None:
            manager.kill()


async def test_the_private_key_never_reaches_the_site(site, slurm, engine: Engine) -> None:
    await slurm_allocation(engine, site, "far")
    allocation = await engine.allocation("far")
    body = b"".join(Path(allocation.key_path).read_bytes().splitlines()[1:-1])
    blueprint = Blueprint(name="keyless", middleware=MiddlewareKind.NONE, workers=WorkerSpec(count=1, walltime=600, command=["sleep", "60"]),
                          allocations=[AllocationUse(name="far")])  # fmt: skip
    cluster = await engine.launch(blueprint)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 1, 180)
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert files_containing(site.home, body[:40]) == []
    assert (site.home / ".ssh" / "authorized_keys").exists(), "only the public half is there"


async def test_typed_passwords_are_redacted_and_never_written_down(ssh_site, home: Path, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(Dirs.from_environment())
    engine.save_resource(Resource(name="mfalab", login_hosts=["127.0.0.1"], port=ssh_site.mfa_port, batch=BatchKind.FORK))
    asked = Counter()

    async def answer() -> None:
        async for question in engine.questions.questions():
            asked[question.kind] += 1
            reply = {QuestionKind.HOST_KEY: lambda: "yes", QuestionKind.PASSWORD: lambda: PASSWORD, QuestionKind.OTP: ssh_site.totp}[question.kind]()
            engine.questions.answer(question.id, reply)

    answering = asyncio.create_task(answer())
    try:
        allocation, _ = await engine.access.create("mfa1", "mfalab", USER)
        validated = await engine.access.validate(allocation)
        assert validated.state is AllocationState.READY and asked[QuestionKind.PASSWORD] == 1
        await engine.bus.commit(CycleWrites(events=[Event(cluster_id="", kind="error", message=f"site echoed {PASSWORD} back")]))
        assert engine.redactor(f"x {PASSWORD} y") == f"x {REDACTED} y"
    finally:
        answering.cancel()
        await engine.close()
    for root in (home / "data", home / "config", home / "cache"):
        assert files_containing(root, PASSWORD.encode()) == []

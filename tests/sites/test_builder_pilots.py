"""The builder as pilots run it: carried inside the pilot script on sites without a shared
filesystem, and a worker started through the wrapper the environment asks for (VC3_EXEC)."""

from __future__ import annotations

from collections.abc import Callable

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.builder_site import stand_in
from tests.factories import cluster
from vc3tui.engine.batch.fork import ForkBatch
from vc3tui.engine.engine import Engine
from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.site import Site
from vc3tui.engine.interfaces import PilotShape, Submission
from vc3tui.engine.models import Environment, Pilot
from vc3tui.engine.tags import pilot_tag
from vc3tui.engine.staging import builder_digest, embedded_builder
from vc3tui.engine.states import PilotState

pytestmark = pytest.mark.timeout(60)


def test_the_embedded_builder_unpacks_once_per_node_and_runs(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    listed = subprocess.run([*embedded_builder(), "--list"], capture_output=True, text=True, env=env, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("hello ") for line in listed.stdout.splitlines())
    unpacked = tmp_path / f"vc3-builder-{builder_digest()}"
    assert sorted(p.name for p in unpacked.iterdir()) == ["vc3-builder", "vc3-recipes.json", "vc3_builder.py"]
    stamp = unpacked.stat().st_mtime_ns
    assert subprocess.run([*embedded_builder(), "--list=os"], capture_output=True, env=env, timeout=30).returncode == 0
    assert unpacked.stat().st_mtime_ns == stamp and [p.name for p in tmp_path.iterdir()] == [unpacked.name]


async def test_a_site_without_a_shared_filesystem_gets_the_embedded_builder(dirs, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(dirs, interactive=False)
    demo = cluster()
    demo.blueprint.environment = Environment(require=["python:3.6"], os="centos:7", mounts=["/scratch=/data"])
    site = Site(allocation="osg", executor=LocalExecutor(), batch=ForkBatch(), workdir="/nowhere", poll_interval=1, shared_filesystem=False)
    argv = await engine.sites.builder_command(demo, site)
    await engine.close()
    assert tuple(argv[:4]) == embedded_builder() and "--install" not in argv
    assert argv[4:] == ["--require-os", "centos:7", "--mount", "/scratch=/data", "--require", "python:3.6"]


async def test_a_pilot_runs_its_worker_through_the_wrapper_its_environment_needs(tmp_path: Path) -> None:
    """cvmfs through parrot_run (a stand-in: parrot does not install here) with the builder carried
    in the pilot script: the worker command reaches parrot_run whole, and the pilot exits 0."""
    parrot = stand_in(tmp_path / "bin", "parrot_run", 'case $1 in --version) echo "parrot_run 9.9";; *) exec "$@";; esac')
    record, node_tmp = tmp_path / "record", tmp_path / "node-tmp"
    node_tmp.mkdir()
    pilot = Pilot(cluster_id="0123abcd", allocation="osg", index=0, tag=pilot_tag("feedfacecafe", "0123abcd", 0))
    submission = Submission(
        pilots=[pilot],
        shape=PilotShape(cores=1, memory_mb=100, disk_mb=100, walltime=600),
        workdir=str(tmp_path / "work"),
        builder=[*embedded_builder(), "--install", str(tmp_path / "root"), "--require", "cvmfs"],
        command=["sh", "-c", "echo worker ran with $VC3_PILOT_TAG", "ignored; rm -rf /"],
        env={"PATH": f"{parrot.parent}:{os.environ['PATH']}", "TMPDIR": str(node_tmp), "VC3_TEST_RECORD": str(record)},
    )
    batch, executor = ForkBatch(), LocalExecutor()
    jobs = await batch.submit(executor, submission)
    pilot.job_id = jobs[pilot.tag]
    try:
        for _ in range(300):
            status = (await batch.status(executor, [pilot], submission.workdir))[pilot.tag]
            if status.state is not PilotState.RUNNING:
                break
            await asyncio.sleep(0.1)
    finally:
        try:
            os.killpg(int(pilot.job_id), signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert status.state is PilotState.DONE and status.exit_code == 0, status
    worker_log = Path(submission.workdir) / "pilots" / pilot.tag / "worker.log"
    assert worker_log.read_text() == f"worker ran with {pilot.tag}\n"
    assert record.read_text().splitlines() == [str(parrot), "sh", "-c", "echo worker ran with $VC3_PILOT_TAG", "ignored; rm -rf /"]

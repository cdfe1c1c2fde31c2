"""PBS Pro, Torque and LSF end to end through vc3tui's adapters: submit, status, resize, cancel,
terminate. The commands are the stand-ins of tests/standins (those daemons cannot be installed
here); the pilots they start are real processes running the real wrapper."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import BatchKind, Resource
from vc3tui.engine.states import ClusterState, PilotState

from tests import ROOT
from tests.factories import sleepers
from tests.slurm_site import assert_validated
from tests.standins.standin import alive

pytestmark = pytest.mark.timeout(300)
STANDINS = ROOT / "tests" / "standins" / "bin"


@pytest.fixture
def standins(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "standin-state"
    monkeypatch.setenv("VC3TUI_STANDIN_STATE", str(state))
    monkeypatch.setenv("PATH", f"{STANDINS}:{os.environ['PATH']}")
    yield state
    jobs = json.loads((state / "jobs.json").read_text()) if (state / "jobs.json").exists() else {"jobs": {}}
    for record in jobs["jobs"].values():
        for info in record["elements"].values():
            if alive(info["pid"]):
                os.killpg(info["pid"], 9)


def running_elements(state: Path) -> int:
    jobs = json.loads((state / "jobs.json").read_text())["jobs"]
    return sum(1 for record in jobs.values() for info in record["elements"].values() if alive(info["pid"]))


@pytest.mark.parametrize("kind", [BatchKind.PBS, BatchKind.TORQUE, BatchKind.LSF])
async def test_submit_status_resize_cancel_terminate(standins: Path, kind: BatchKind, engine: Engine) -> None:
    engine.save_resource(Resource(name="site", batch=kind, poll_interval=1))
    allocation, _ = await engine.access.create("site1", "site", None)
    validated = await engine.access.validate(allocation)
    assert_validated(validated)
    cluster = await engine.launch(sleepers("standin", "site1", 3))
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 3, 120)
    pilots = await engine.pilots(cluster.id)
    assert all(p.job_id for p in pilots) and len({p.job_id for p in pilots}) == 3
    assert running_elements(standins) == 3
    await engine.resize(cluster.id, 1, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.counts.running == 1, 60)
    assert sorted(p.index for p in await engine.pilots(cluster.id) if p.state is PilotState.RUNNING) == [0]
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert running_elements(standins) == 0

"""A real virtual cluster on this machine: real dask processes, real pilots, real teardown.

Each test runs `vc3tui --run` as a user would, in its own VC3TUI_HOME, and checks the processes
and the scheduler itself, not the engine's opinion of them.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import ROOT
from tests.waiting import wait_until
from tests.processes import alive, cmdline, leftovers

pytestmark = pytest.mark.timeout(600)


def start_run(blueprint: Path, *extra: str) -> subprocess.Popen[str]:
    stamp = time.monotonic_ns()
    return subprocess.Popen(
        [sys.executable, "-m", "vc3tui", "--run", str(blueprint), "--json", *extra],
        stdout=open(blueprint.parent / f"run-{stamp}.jsonl", "w"),
        stderr=open(blueprint.parent / f"run-{stamp}.err", "w"),
        text=True,
        cwd=ROOT,
    )


def cluster_row(home: Path, name: str) -> dict:
    db = sqlite3.connect(home / "data" / "vc3tui.sqlite3")
    try:
        rows = db.execute("SELECT id, data FROM clusters WHERE name = ? ORDER BY updated_at DESC", (name,)).fetchall()
        pilots = db.execute(
            "SELECT tag, job_id, state, stage FROM pilots WHERE cluster_id = ? ORDER BY idx", (rows[0][0],)
        ).fetchall() if rows else []
    finally:
        db.close()
    return {**json.loads(rows[0][1]), "pilots": pilots} if rows else {}


def scheduler_workers(cluster: dict) -> list[str]:
    reply = httpx.get(f"http://127.0.0.1:{cluster['head']['ports']['http']}/api/v1/get_workers", timeout=5)
    return sorted(w["name"] for w in reply.json()["workers"])


@pytest.fixture
def hold(tmp_path: Path) -> Path:
    folder = tmp_path / "bp"
    shutil.copytree(ROOT / "tests" / "blueprints", folder)
    return folder / "hold.toml"


def entry_started(hold: Path) -> dict | None:
    path = hold.parent / "entry-started.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_example_runs_on_real_dask_and_leaves_nothing(cluster_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vc3tui", "--run", "examples/local-dask.toml"],
        capture_output=True, text=True, cwd=ROOT, timeout=540,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "381 words, 193 distinct, in 6 files" in result.stdout
    assert "  the          24" in result.stdout
    assert "all 2 workers joined" in result.stdout
    assert "cluster has 2 workers" in result.stdout
    assert leftovers(cluster_home) == {}
    assert not (cluster_home / "data" / "clusters").exists() or not any((cluster_home / "data" / "clusters").iterdir())


def test_scheduler_itself_reports_the_workers_and_entry_gets_the_address(cluster_home: Path, hold: Path) -> None:
    run = start_run(hold)
    try:
        started = wait_until(lambda: entry_started(hold), 540, "the entry point")
        cluster = cluster_row(cluster_home, "hold")
        tags = sorted(tag for tag, *_ in cluster["pilots"])
        assert scheduler_workers(cluster) == tags == started["workers"]
        assert started["sum"] == 5050
        for tag, job_id, state, stage in cluster["pilots"]:
            assert (state, stage) == ("running", "worker_joined")
            assert alive(int(job_id)) and tag in cmdline(int(job_id))
        (hold.parent / "release").touch()
        assert run.wait(timeout=120) == 0
    finally:
        run.kill()
    assert leftovers(cluster_home) == {}
    lines = [json.loads(line) for line in (next(hold.parent.glob("run-*.jsonl"))).read_text().splitlines()]
    assert "released, sum 5050" in next(hold.parent.glob("run-*.err")).read_text()
    assert {"starting_head", "running", "terminating", "terminated"} <= {l["message"].split(":")[0] for l in lines if l["kind"] == "state"}
    assert all("counts" in l for l in lines if l["kind"] != "done")


def test_kill_minus_nine_then_resume_readopts_head_and_pilots(cluster_home: Path, hold: Path) -> None:
    run = start_run(hold)
    try:
        first_entry = wait_until(lambda: entry_started(hold), 540, "the entry point")
        before = cluster_row(cluster_home, "hold")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        # the entry point dies with its runner; head and pilots are detached and live on
        wait_until(lambda: not alive(first_entry["pid"]), 30, "the orphaned entry point to exit")
        assert alive(before["head"]["pid"])
        assert scheduler_workers(before) == sorted(tag for tag, *_ in before["pilots"])
        (hold.parent / "entry-started.json").unlink()

        run = start_run(hold)
        wait_until(lambda: entry_started(hold), 120, "the resumed entry point")
        after = cluster_row(cluster_home, "hold")
        assert after["id"] == before["id"]
        assert (after["head"]["pid"], after["head"]["ports"], after["head"]["address"]) == (
            before["head"]["pid"], before["head"]["ports"], before["head"]["address"],
        )  # fmt: skip
        assert [(t, j) for t, j, *_ in after["pilots"]] == [(t, j) for t, j, *_ in before["pilots"]]
        assert len(scheduler_workers(after)) == 2
        (hold.parent / "release").touch()
        assert run.wait(timeout=120) == 0
    finally:
        run.kill()
    assert leftovers(cluster_home) == {}
    assert cluster_row(cluster_home, "hold")["state"] == "terminated"


def test_ctrl_c_during_run_tears_down_and_leaves_nothing(cluster_home: Path, hold: Path) -> None:
    run = start_run(hold)
    try:
        wait_until(lambda: entry_started(hold), 540, "the entry point")
        assert leftovers(cluster_home)
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=120) == 130
    finally:
        run.kill()
    assert leftovers(cluster_home) == {}
    cluster = cluster_row(cluster_home, "hold")
    assert cluster["state"] == "terminated"
    assert {state for _, _, state, _ in cluster["pilots"]} == {"done"}

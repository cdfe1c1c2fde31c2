"""`vc3tui cluster list|show|resize|terminate`: another process writes the size, the runner acts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import ROOT
from tests.factories import command_blueprint
from tests.processes import leftovers

pytestmark = pytest.mark.timeout(900)

BLUEPRINT = command_blueprint("clidemo", ["sleep", "600"], count=1)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vc3tui", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def shown() -> dict:
    result = cli("cluster", "show", "clidemo", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_counts(check, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = shown()
        if check(data["counts"]):
            return data
        time.sleep(0.3)
    raise AssertionError(f"counts never matched: {data['counts']}")


def test_cluster_commands_from_another_process(cluster_home: Path, tmp_path: Path) -> None:
    blueprint = tmp_path / "clidemo.toml"
    blueprint.write_text(BLUEPRINT)
    runner = subprocess.Popen([sys.executable, "-m", "vc3tui", "--run", str(blueprint), "--json"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and cli("cluster", "show", "clidemo").returncode != 0:
            time.sleep(0.3)
        wait_counts(lambda c: c["running"] == 1, 600)  # the first Dask cluster of a run builds its environment
        listed = json.loads(cli("cluster", "list", "--json").stdout)
        assert [(c["name"], c["state"]) for c in listed] == [("clidemo", "running")]

        assert cli("cluster", "resize", "clidemo", "3").returncode == 0
        data = wait_counts(lambda c: c["running"] == 3)
        assert data["counts"]["requested"] == 3 and len(data["pilots"]) == 3

        assert cli("cluster", "resize", "clidemo", "1", "--no-peaceful").returncode == 0
        data = wait_counts(lambda c: c["running"] == 1)
        assert sorted(p["reason"] for p in data["pilots"] if p["state"] == "done")[0].startswith("cancelled")

        text = cli("cluster", "show", "clidemo").stdout
        assert "requested 1, running 1" in text
        bad = cli("cluster", "resize", "nosuch", "2")
        assert bad.returncode == 2 and bad.stderr.startswith("vc3tui: no live cluster named 'nosuch'")

        assert cli("cluster", "terminate", "clidemo").returncode == 0
        assert runner.wait(timeout=120) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
    assert leftovers(cluster_home) == {}
    assert json.loads(cli("cluster", "list", "--all", "--json").stdout)[0]["state"] == "terminated"

"""Injection across every entry point: names, paths, partitions, batch options and the like with
`; $( ) \\` ' "` or a newline are refused by validation (one line naming the field); environment
values, worker commands and entry points carry them as plain data, on this machine and over SSH.
Every payload tries to create a marker file; no test may find one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from tests import ROOT
from tests.slurm_site import slurm_allocation
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Resource
from vc3tui.engine.paths import Dirs
from vc3tui.engine.projects import load_project
from vc3tui.engine.states import ClusterState
from vc3tui.engine.blueprint import load_blueprint
from vc3tui.engine.tomlfile import FileErrors

pytestmark = pytest.mark.timeout(600)


def payloads(marker: Path) -> list[str]:
    return [f"a;touch {marker}", f"$(touch {marker})", f"`touch {marker}`", f"a' ; touch {marker}; '", f'a" ; touch {marker}; "', f"a\ntouch {marker}"]


def vc3(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vc3tui", "--no-input", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def refused(result: subprocess.CompletedProcess[str], field: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and field in lines[0], result.stderr


def test_the_command_line_refuses_every_payload_and_runs_none(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for bad in payloads(marker):
        refused(vc3("resource", "add", bad, "--host", "h", "--batch", "slurm"), "name")
        refused(vc3("resource", "add", "lab", "--host", bad, "--batch", "slurm"), "login_hosts")
        refused(vc3("resource", "add", "lab", "--host", "h", "--batch", "slurm", "--partition", bad), "partition")
        refused(vc3("resource", "add", "lab", "--host", "h", "--batch", "slurm", "--scratch", bad), "scratch_dir")
        refused(vc3("resource", "add", "lab", "--host", "h", "--batch", "slurm", "--batch-option", f"--qos={bad}"), "batch_options")
        refused(vc3("allocation", "create", bad, "--resource", "local"), "name")
        refused(vc3("allocation", "create", "a", "--resource", "local", "--login", bad), "login")
        refused(vc3("allocation", "create", "a", "--resource", "local", "--account", bad), "account")
        refused(vc3("blueprint", "new", bad, "--middleware", "dask", "--pip", "dask[distributed]"), "name")
        refused(vc3("project", "create", bad), "name")
        refused(vc3("project", "add-member", "p", bad), "name")
    assert not marker.exists()


def test_files_refuse_every_payload_line_by_line(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for bad in payloads(marker):
        blueprint = {"name": bad, "middleware": "none", "workers": {"command": ["true"]}, "allocations": [{"name": bad}],
                     "environment": {"variables": {bad: "x"}, "require": [bad], "mounts": [bad], "os": bad}, "head": {"listen": bad}}  # fmt: skip
        path = tmp_path / "bp.toml"
        path.write_text(tomlkit.dumps(blueprint))
        with pytest.raises(FileErrors) as raised:
            load_blueprint(path, allocations={"local"})
        fields = {p.field for p in raised.value.located}
        assert {"name", "allocations[0].name", "environment.variables", "environment.require[0]", "environment.mounts[0]", "environment.os", "head.listen"} <= fields, fields
        project = {"name": "p", "members": [{"name": bad}], "allocations": [{"name": bad, "resource": bad, "owner": bad, "account": bad}],
                   "resources": [{"name": "r", "login_hosts": [bad], "partition": bad, "scratch_dir": bad, "batch_options": [bad]}]}  # fmt: skip
        path.write_text(tomlkit.dumps(project))
        with pytest.raises(FileErrors) as raised:
            load_project(path)
        fields = {p.field for p in raised.value.located}
        assert {"members[0].name", "allocations[0].name", "allocations[0].resource", "allocations[0].owner", "allocations[0].account",
                "resources[0].login_hosts[0]", "resources[0].partition", "resources[0].scratch_dir", "resources[0].batch_options[0]"} <= fields, fields  # fmt: skip
        assert all("\n" not in str(p) for p in raised.value.problems)
    assert not marker.exists()


RECORD = "import json, os, sys; open(sys.argv[1], 'a').write(json.dumps({'argv': sys.argv[2:], 'env': os.environ['VC3_NASTY']}) + '\\n')"
STAY = "; import time; time.sleep(600)"
"""A pilot's command stays up after writing, as a worker would."""


def nasty_blueprint(path: Path, allocation: str, out: Path, marker: Path, *, entry: bool) -> list[str]:
    """Every pilot and the entry point write down exactly what they were given."""
    values = payloads(marker)
    blueprint = {
        "name": "nasty", "middleware": "none",
        "environment": {"variables": {"VC3_NASTY": "".join(values)}},
        "workers": {"count": 2, "walltime": "10m", "command": ["python3", "-c", RECORD + STAY, str(out), *values]},
        "allocations": [{"name": allocation}],
    }  # fmt: skip
    if entry:
        blueprint["entry"] = ["python3", "-c", RECORD, str(out), *values]
    path.write_text(tomlkit.dumps(blueprint))
    return values


def written(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_environment_values_commands_and_entry_points_are_data_here(cluster_home: Path, tmp_path: Path) -> None:
    marker, out = tmp_path / "pwned", tmp_path / "out.jsonl"
    values = nasty_blueprint(tmp_path / "nasty.toml", "local", out, marker, entry=True)
    result = subprocess.run([sys.executable, "-m", "vc3tui", "--run", str(tmp_path / "nasty.toml"), "--no-input"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    records = written(out)
    assert len(records) == 3, records  # two pilots and the entry point
    assert all(r == {"argv": values, "env": "".join(values)} for r in records)
    assert not marker.exists()


async def test_environment_values_and_commands_are_data_over_ssh(site, slurm, shared_dir: Path, engine: Engine) -> None:
    shared = shared_dir
    marker, out = shared / "pwned", shared / "out.jsonl"
    await slurm_allocation(engine, site, "far")
    values = nasty_blueprint(shared / "nasty.toml", "far", out, marker, entry=False)
    cluster = await engine.launch(await engine.load_blueprint(shared / "nasty.toml"))
    await engine.wait_for(cluster.id, lambda r: len(written(out)) == 2 or r.counts.error, 240)
    assert [r for r in written(out)] == [{"argv": values, "env": "".join(values)}] * 2
    await engine.terminate(cluster.id, peaceful=False)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    await engine.close()
    assert not marker.exists()


def test_a_resource_with_a_nasty_scratch_dir_never_reaches_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for bad in payloads(marker):
        with pytest.raises(ValueError, match="scratch"):
            Resource(name="lab", login_hosts=["h"], batch="slurm", scratch_dir=bad)
    for fine in ("$SCRATCH", "/scratch/$USER/vc3", "~/work", "${HOME}/x"):
        assert Resource(name="lab", login_hosts=["h"], batch="slurm", scratch_dir=fine).scratch_dir == fine


async def test_the_apps_forms_refuse_every_payload(dirs: Dirs, tmp_path: Path) -> None:
    from textual.widgets import Input, Select, Static

    from tests.tui import running_app
    from vc3tui.screens.allocation_wizard import AllocationWizardScreen
    from vc3tui.screens.resource_form import ResourceFormScreen

    marker = tmp_path / "pwned"
    async with running_app(dirs, (120, 40)) as pilot:
        engine = pilot.app.engine
        for bad in payloads(marker):
            await pilot.press("colon", *"resources", "enter", "n")
            await pilot.pause()
            form = pilot.app.screen
            assert isinstance(form, ResourceFormScreen)
            form.query_one("#name", Input).value = "lab"
            form.query_one("#login_hosts", Input).value = "h"
            form.query_one("#partition", Input).value = bad
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "partition" in str(form.query_one("#problems", Static).render()) and engine.catalog.get("lab") is None
            await pilot.press("escape", "colon", *"allocations", "enter", "n")
            await pilot.pause()
            wizard = pilot.app.screen
            assert isinstance(wizard, AllocationWizardScreen)
            wizard.query_one("#resource", Select).value = "perlmutter"
            wizard.query_one("#name", Input).value = bad
            await pilot.press("ctrl+n", "ctrl+n")
            await pilot.pause()
            assert wizard.step == "key" and "name" in str(wizard.query_one("#problem", Static).render())
            await pilot.press("escape")
            await pilot.pause()
        assert [a.name for a in await engine.allocations()] == ["local"]
    assert not marker.exists()

"""A teammate's project file never changes your setup silently: replacing a resource or an
allocation you have (shipped ones too) takes --replace, and `local` is never replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from vc3tui.engine import VC3Error
from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationDescriptor, Member, Project, Resource
from vc3tui.engine.kinds import BatchKind
from vc3tui.engine.projects import project_toml
from vc3tui.engine.states import AllocationState


def project_file(tmp_path: Path, **parts) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(project_toml(Project(name="team", members=[Member(name="amir")], **parts), "amir"))
    return path


async def test_a_file_redefining_a_shipped_site_needs_replace(engine: Engine, tmp_path: Path) -> None:
    evil = Resource(name="anvil", login_hosts=["anvil.attacker.example"], batch=BatchKind.SLURM)
    path = project_file(tmp_path, resources=[evil])
    [replaces] = await engine.projects.would_replace(path)
    assert replaces.startswith("resource anvil (shipped with vc3tui; the file's differs in ") and "login_hosts" in replaces
    with pytest.raises(VC3Error, match=r"would replace resource anvil \(shipped with vc3tui; the file's differs in .*login_hosts.*\); nothing was imported: run again with --replace"):
        await engine.projects.import_file(path)
    assert engine.catalog.get("anvil").login_hosts != ["anvil.attacker.example"]
    assert [p.name for p in await engine.projects.all()] == []
    await engine.projects.import_file(path, replace=True)
    assert engine.catalog.get("anvil").login_hosts == ["anvil.attacker.example"]


async def test_local_is_never_replaced(engine: Engine, tmp_path: Path) -> None:
    path = project_file(tmp_path, resources=[Resource(name="local", batch=BatchKind.SLURM)])
    for replace in (False, True):
        with pytest.raises(VC3Error, match="names resource local .*which no project may replace"):
            await engine.projects.import_file(path, replace=replace)


async def test_an_allocation_of_yours_is_kept_unless_replaced(engine: Engine, tmp_path: Path) -> None:
    await engine.access.create("hpc", "anvil", "me")
    path = project_file(tmp_path, allocations=[AllocationDescriptor(name="hpc", resource="expanse", owner="amir")])
    with pytest.raises(VC3Error, match=r"would replace allocation hpc \(yours on anvil; the file's is on expanse"):
        await engine.projects.import_file(path)
    assert (await engine.allocation("hpc")).login == "me"
    _, report = await engine.projects.import_file(path, replace=True)
    replaced = await engine.allocation("hpc")
    assert (replaced.resource, replaced.state) == ("expanse", AllocationState.NEEDS_LOGIN)
    assert any(line.startswith("allocation hpc: replaced") for line in report)


async def test_the_same_allocation_is_kept_without_asking(engine: Engine, tmp_path: Path) -> None:
    await engine.access.create("hpc", "anvil", "me")
    path = project_file(tmp_path, allocations=[AllocationDescriptor(name="hpc", resource="anvil", owner="amir")])
    _, report = await engine.projects.import_file(path)
    assert "allocation hpc: yours kept (new)" in report

"""The builder's plan: version ranges, backtracking, system detection, bad input as one line,
and the promise that it is one stdlib-only file for Python 3.6+."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builder_site import BUILDER, make_sources, recipes, run_builder, write_recipes

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return write_recipes(tmp_path / "greet.json", recipes(make_sources(tmp_path / "mirror")))


def would_build(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split()[2] + " " + line.split()[3] for line in result.stderr.splitlines() if line.startswith("Would build:")]


def test_newest_versions_are_chosen_and_dependencies_come_first(tmp_path: Path, database: Path) -> None:
    result = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert would_build(result) == ["libgreet 2.0", "greet 2.0"]
    assert "Plan:    greet => [, ]" in result.stderr and "Success: greet 2.0 => greet" in result.stderr


def test_a_dependency_range_forces_an_older_version(tmp_path: Path) -> None:
    data = recipes(make_sources(tmp_path / "mirror"), greet2_needs=["1.0", "1.9"])
    database = write_recipes(tmp_path / "greet.json", data)
    result = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet", "--dry-run")
    assert would_build(result) == ["libgreet 1.0", "greet 2.0"]


def test_backtracking_drops_the_newest_tool_when_it_conflicts_with_a_requirement(tmp_path: Path) -> None:
    data = recipes(make_sources(tmp_path / "mirror"), greet2_needs=["1.0", "1.9"])
    database = write_recipes(tmp_path / "greet.json", data)
    result = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet", "--require", "libgreet:2", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert would_build(result) == ["libgreet 2.0", "greet 1.0"]
    log = result.stderr
    assert log.index("Try:     greet 2.0") < log.index("Fail:    could not add greet 2.0") < log.index("Try:     greet 1.0")


def test_an_unsatisfiable_chain_is_named(tmp_path: Path) -> None:
    data = recipes(make_sources(tmp_path / "mirror"), greet2_needs=["3.0"])
    data["packages"]["greet"]["versions"] = data["packages"]["greet"]["versions"][1:]
    database = write_recipes(tmp_path / "greet.json", data)
    result = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet", "--dry-run")
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1].strip()
    assert error == "could not add libgreet:3.0 (for greet 2.0): available: 2.0, 1.0"


def test_a_later_database_wins(tmp_path: Path, database: Path) -> None:
    data = json.loads(database.read_text())
    data["packages"]["greet"]["versions"] = data["packages"]["greet"]["versions"][:1]
    later = write_recipes(tmp_path / "later.json", data)
    result = run_builder(tmp_path / "root", "--database", str(database), "--database", str(later), "--require", "greet", "--dry-run")
    assert would_build(result) == ["libgreet 2.0", "greet 1.0"]


def fake_tool(bin_dir: Path, version: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "greet"
    tool.write_text(f"#!/bin/sh\necho 'greet (the system one) version {version}'\n")
    tool.chmod(0o755)


def with_system_greet(database: Path) -> Path:
    data = json.loads(database.read_text())
    data["packages"]["greet"]["versions"].append({"version": "auto", "source": {"type": "system", "executables": ["greet"]}})
    return write_recipes(database, data)


def test_system_detection_reads_the_version_and_is_preferred(tmp_path: Path, database: Path) -> None:
    fake_tool(tmp_path / "bin", "2.5.1")
    with_system_greet(database)
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    found = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet:2", "--dry-run", env=env)
    assert f"Try:     greet 2.5.1 (system, {tmp_path / 'bin' / 'greet'})" in found.stderr
    assert would_build(found) == []
    too_old = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet:2.6", "--dry-run", env=env)
    assert would_build(too_old) == []  # nothing in range at all: 2.5.1 (system) and 2.0, 1.0
    assert "could not add greet:2.6 (for the command line): available: 2.5.1 (system), 2.0, 1.0" in too_old.stderr
    ignored = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet", "--no-sys", "greet", "--dry-run", env=env)
    assert would_build(ignored) == ["libgreet 2.0", "greet 2.0"]


def test_sys_names_a_package_the_system_has(tmp_path: Path, database: Path) -> None:
    result = run_builder(tmp_path / "root", "--database", str(database), "--require", "greet", "--sys", "libgreet:1.5=/opt/greet", "--dry-run")
    assert would_build(result) == ["greet 2.0"]
    assert "Try:       libgreet 1.5 (sys, /opt/greet)" in result.stderr


def test_list_by_section_and_the_operating_systems(tmp_path: Path) -> None:
    listing = run_builder(tmp_path / "root", "--list=section")
    assert "[language]" in listing.stdout and "[python]" in listing.stdout
    assert any(line.startswith("dask ") for line in listing.stdout.splitlines())
    assert "centos:7  docker://centos:7" in run_builder(tmp_path / "root", "--list=os").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--require", "python:three"], "'three' is not a version; write it as numbers with dots, e.g. 3.8"),
        (["--require", "py;thon"], "'py;thon' is not a requirement; write NAME[:MIN[:MAX]], e.g. python:3.8"),
        (["--var", "1X=2"], "--var '1X=2' is not NAME=VALUE"),
        (["--sys", "python=/usr"], "--sys 'python=/usr' is not NAME:VERSION=/PREFIX"),
        (["--revar", "("], "--revar '(' is not a regular expression: missing ), unterminated subpattern at position 0"),
        (["--mount", "scratch"], "--mount scratch: write absolute paths, /X or /X:/Y (or /X=/Y)"),
        (["--require", "nosuchthing"], "could not add nosuchthing (for the command line): no recipe (see --list)"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_builder(tmp_path / "root", *args, "--dry-run")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_a_broken_recipe_file_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"packages": {"x": {"versions": [{"version": "1", "source": {"type": "magic"}}]}}}))
    result = run_builder(tmp_path / "root", "--database", str(bad), "--list")
    assert result.returncode == 1
    assert f"{bad}: package 'x' version #1: source type 'magic' is not one of" in result.stderr
    bad.write_text(json.dumps({"packages": {"x": {"versions": [{"version": "1", "source": {"type": "pip"}, "dependencies": ["python"]}]}}}))
    assert f"{bad}: package 'x' version #1: 'dependencies' must be an object" in run_builder(tmp_path / "root", "--database", str(bad), "--list").stderr
    bad.write_text("{not json")
    assert f"{bad}: cannot read recipes" in run_builder(tmp_path / "root", "--database", str(bad), "--list").stderr


def test_the_originals_example_names_each_part_this_site_cannot_satisfy(tmp_path: Path) -> None:
    result = run_builder(
        tmp_path / "root", "--require-os", "centos:7", "--mount", "/nonexistent-scratch=/data", "--require", "cvmfs",
        "--require", "python:2.7", "--", "myapp", "ARGS",
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 1
    lines = [line.strip() for line in result.stderr.split("this site cannot provide what was asked:")[1].splitlines() if line.strip()]
    assert lines == [
        "--mount /nonexistent-scratch: /nonexistent-scratch does not exist on this host",
        "--require-os centos:7: this host is debian 12, and neither apptainer nor singularity is on PATH to run the centos:7 image",
        "could not add cvmfs (for the command line): nothing available; none of /cvmfs/cvmfs-config.cern.ch, "
        "/cvmfs/oasis.opensciencegrid.org is on this host; no parrot_run on PATH",
    ]  # python:2.7 means 2.7 or newer, which this host has


def test_the_builder_imports_only_the_standard_library() -> None:
    tree = ast.parse(BUILDER.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported and imported <= set(sys.stdlib_module_names)


def test_the_builder_runs_on_python_3_6() -> None:
    vermin = shutil.which("vermin") or str(Path(sys.executable).parent / "vermin")
    result = subprocess.run([vermin, "-t=3.6-", "--no-tips", "--violations", str(BUILDER)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

"""The HTCondor tarball a node without HTCondor gets: the builder unpacks it from a site's own
recipes (ROOT/recipes.d, the file in ROOT/distfiles), points each program at the loader it
carries, and HTCondor's trixie programs run on this bookworm machine."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.builder_site import run_builder
from tests.testbed.condor_tarball import PLACEHOLDER, offer

pytestmark = pytest.mark.timeout(120)


def test_the_builder_unpacks_it_and_its_programs_run_on_a_host_without_htcondor(condor_tarball: Path, tmp_path: Path) -> None:
    assert shutil.which("condor_master") is None, "this test means a host without HTCondor"
    root = tmp_path / "root"
    offer(condor_tarball, root)
    result = run_builder(root, "--require", "htcondor", "--", "sh", "-c", 'condor_version && command -v condor_master && echo "$_CONDOR_LIBEXEC"')
    assert result.returncode == 0, result.stderr
    version, platform, master, libexec = result.stdout.splitlines()
    assert "23.9.6" in version and "Debian_13" in platform and "debian12" in master
    prefix = Path(master).parent.parent
    assert prefix.is_relative_to(root) and Path(libexec) == prefix / "libexec" / "condor"
    loader = subprocess.run(["patchelf", "--print-interpreter", master], capture_output=True, text=True).stdout.strip()
    assert Path(loader) == prefix / "lib" / "ld-linux-x86-64.so.2"
    warm = run_builder(root, "--require", "htcondor", "--", "condor_version")
    assert warm.returncode == 0 and "Build:" not in warm.stderr


def test_an_install_path_longer_than_the_room_for_the_loader_is_refused(condor_tarball: Path, tmp_path: Path) -> None:
    root = tmp_path / ("deep" * 50) / "root"
    offer(condor_tarball, root)
    result = run_builder(root, "--require", "htcondor", "--no-run")
    assert result.returncode == 1
    assert "the install path is too long for a prebuilt binary" in result.stderr and "use a shorter --install" in result.stderr
    assert len(str(root)) > len(PLACEHOLDER)


def test_a_relocate_on_a_source_tarball_is_refused_naming_the_file(condor_tarball: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    offer(condor_tarball, root)
    recipes = root / "recipes.d" / "htcondor.json"
    data = json.loads(recipes.read_text())
    data["packages"]["htcondor"]["versions"][-1]["source"]["type"] = "tarball"
    recipes.write_text(json.dumps(data))
    result = run_builder(root, "--require", "htcondor", "--no-run")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"vc3-builder: error: {recipes}: package 'htcondor' version #2: 'relocate' (binary sources only) "
                                     "needs 'placeholder' (an absolute path), 'loader' and 'dirs'")  # fmt: skip

"""The built wheel carries the builder and the themes; an installed vc3tui finds them inside itself."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests import ROOT
from tests.processes import stop_recorded_processes



@pytest.mark.timeout(600)
def test_wheel_installs_in_a_fresh_venv_and_finds_builder_and_themes(tmp_path: Path, builder_cache: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=240,
    )
    (wheel,) = dist.glob("vc3tui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "vc3tui/_shipped/builder/vc3_builder.py" in names
    assert "vc3tui/_shipped/themes/dark.toml" in names
    assert "vc3tui/engine/catalog.toml" in names

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=240)
    # The dependencies come from this interpreter's site-packages (no network); vc3tui itself from the wheel.
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True, check=True)
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    probe = (
        "import vc3tui, sys\n"
        "from vc3tui.engine.paths import shipped_dir\n"
        "from vc3tui.themes import load_themes\n"
        "assert vc3tui.__file__.startswith(sys.prefix), vc3tui.__file__\n"
        "print(shipped_dir('builder'))\n"
        "print(sorted(t.name for t in load_themes()[0]))\n"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    builder_dir, themes = result.stdout.splitlines()
    assert builder_dir.startswith(str(target)) and builder_dir.endswith("vc3tui/_shipped/builder")
    assert themes == "['vc3-dark', 'vc3-high-contrast', 'vc3-light']"
    helped = subprocess.run([python, f"{builder_dir}/vc3_builder.py", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--require" in helped.stdout
    listing = subprocess.run([target / "bin" / "vc3tui", "resource", "list"], capture_output=True, text=True, cwd=tmp_path, timeout=60, env={"VC3TUI_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    assert listing.returncode == 0, listing.stderr
    assert "perlmutter" in listing.stdout

    # as pipx or `uv tool` leave it: the tool's own venv is not on PATH, and the embedded default
    # still runs, its middleware's software brought by the builder, not found on the user's PATH
    home = tmp_path / "run-home"
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "builder").symlink_to(builder_cache)
    run = subprocess.run(
        [target / "bin" / "vc3tui", "--run", str(ROOT / "examples" / "local-dask.toml")],
        capture_output=True, text=True, cwd=tmp_path, timeout=400, env={"VC3TUI_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "381 words, 193 distinct, in 6 files" in run.stdout and "all 2 workers joined" in run.stdout
        assert run.stderr == "" and "Plan:" not in run.stdout, "the builder's own lines go to its log"
    finally:
        stop_recorded_processes(home)

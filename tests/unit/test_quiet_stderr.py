"""A new user's first commands print vc3tui's own lines only: no third-party warning lands in
front of a one-line error, in `--run` output or before the app."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

OWN_LINE = re.compile(r"(vc3tui: |\S+\.toml:\d+: )")


def vc3tui(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh process, as a user's shell starts it (no warnings filter of pytest's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHONWARNINGS"))}
    env["VC3TUI_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "vc3tui", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def test_the_first_commands_print_only_vc3tuis_own_lines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    version = vc3tui(home, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stderr == "" and version.stdout.startswith("vc3tui ")
    listing = vc3tui(home, "resource", "list", cwd=tmp_path)
    assert listing.returncode == 0 and listing.stderr == "" and "local" in listing.stdout

    (tmp_path / "typo.toml").write_text('name = "x"\nmiddleware = "dask"\n[workers]\ncuont = 2\n[[allocations]]\nname = "local"\n')
    (tmp_path / "unknown.toml").write_text('name = "x"\nmiddleware = "dask"\n[[allocations]]\nname = "nersc"\n')
    for name in ("typo.toml", "unknown.toml"):
        run = vc3tui(home, "--run", name, cwd=tmp_path)
        assert run.returncode == 2, run
        lines = run.stderr.splitlines()
        assert lines and all(OWN_LINE.match(line) for line in lines), run.stderr
        assert f"{name}:" in run.stderr

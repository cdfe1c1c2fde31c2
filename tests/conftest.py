"""Shared fixtures: every test gets its own VC3TUI_HOME, so nothing touches the real user dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from vc3tui.engine.paths import Dirs


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "vc3home"
    monkeypatch.setenv("VC3TUI_HOME", str(root))
    return root


@pytest.fixture
def dirs(home: Path) -> Dirs:
    return Dirs.from_environment().ensure()

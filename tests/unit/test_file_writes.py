"""Every file vc3tui writes goes through the helpers in paths.py (whole or not at all, under a
lock when it is read, changed and written back), so parallel commands keep each other's changes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ROOT
from vc3tui.engine.catalog import CatalogFiles

HELPERS = ROOT / "vc3tui" / "engine" / "paths.py"
ALLOWED = {
    ("vc3tui/engine/executors/local.py", "spawn"): "a spawned program's log, appended to by that program",
    ("vc3tui/engine/engine.py", "hand_off"): "the background manager's log, appended to by it",
    ("vc3tui/engine/pilot_monitor.py", "write_atomically"): "runs on the site, stdlib alone, with its own atomic write",
    ("vc3tui/cli/__init__.py", "main"): "/dev/null over a closed pipe's stdout, not a file",
}
"""Files opened for writing outside the helpers, and why that is right."""


def writes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, enclosing function) of every call that writes a file."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                func = child.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                text = ast.unparse(child)
                if called in ("write_text", "write_bytes"):
                    found.append((child.lineno, name))
                elif called in ("open", "fdopen") and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) and set(a.value) & set("wax+") for a in child.args[1:]
                ):
                    found.append((child.lineno, name))
                elif called == "open" and any(flag in text for flag in ("O_WRONLY", "O_RDWR", "O_CREAT")):
                    found.append((child.lineno, name))
            visit(child, name)

    visit(tree, "")
    return found


def test_no_file_is_written_outside_the_helpers() -> None:
    stray = []
    for path in sorted((ROOT / "vc3tui").rglob("*.py")):
        if path == HELPERS:
            continue
        relative = path.relative_to(ROOT).as_posix()
        for line, function in writes(ast.parse(path.read_text())):
            if (relative, function) not in ALLOWED:
                stray.append(f"{relative}:{line} in {function or 'the module'}")
    assert not stray, "write through vc3tui.engine.paths (write_whole, update_file, create_new):\n" + "\n".join(stray)


def test_the_scan_sees_a_stray_write() -> None:
    assert writes(ast.parse("def f(p):\n    p.write_text('x')\n    open(p, 'a')\n    os.open(p, os.O_WRONLY)\n")) == [(2, "f"), (3, "f"), (4, "f")]


@pytest.mark.timeout(120)
def test_twenty_parallel_resource_adds_keep_all_twenty(tmp_path: Path) -> None:
    env = {**os.environ, "VC3TUI_HOME": str(tmp_path)}
    adds = [
        subprocess.Popen([sys.executable, "-m", "vc3tui", "--no-input", "resource", "add", f"site{i}", "--host", f"login{i}.example.org", "--batch", "slurm"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(20)
    ]  # fmt: skip
    for add in adds:
        _, err = add.communicate(timeout=100)
        assert add.returncode == 0, err.decode()
    files = CatalogFiles(tmp_path / "config" / "resources.toml", tmp_path / "cache")
    assert {f"site{i}" for i in range(20)} <= set(files.catalog.resources)

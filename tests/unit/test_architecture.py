"""The shape the code must keep, read from its own imports with `ast`: no import cycle anywhere
in vc3tui/ (imports inside functions and under TYPE_CHECKING count too), and front ends that
reach the engine only through its public face."""

from __future__ import annotations

import ast
from pathlib import Path

import vc3tui.engine

PACKAGE = Path(vc3tui.engine.__file__).parent.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path) -> set[str]:
    """The vc3tui modules `name` imports; a name from the engine's face counts as its own module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            found.add(module)
            for alias in node.names:
                if module == "vc3tui.engine" and alias.name in vc3tui.engine._WHERE:
                    found.add(f"vc3tui.engine.{vc3tui.engine._WHERE[alias.name]}")
                elif f"{module}.{alias.name}" in MODULES:
                    found.add(f"{module}.{alias.name}")
    return {module for module in found if module in MODULES and module != name}


def test_the_public_face_names_real_modules() -> None:
    for name, module in vc3tui.engine._WHERE.items():
        assert hasattr(__import__(f"vc3tui.engine.{module}", fromlist=[name]), name), (name, module)


def test_no_import_cycle() -> None:
    graph = {name: imported(name, path) for name, path in MODULES.items()}
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_front_ends_use_only_the_engine_face() -> None:
    """Outside vc3tui/engine/, `vc3tui.engine` is the only engine module anyone imports."""
    reaching_in = []
    for name, path in MODULES.items():
        if name.startswith("vc3tui.engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            reaching_in += [f"{name} imports {module}" for module in modules if module.startswith("vc3tui.engine.")]
    assert not reaching_in, "\n".join(reaching_in)

"""README and docs stay true: every `vc3tui ...` line they show parses, the blueprint reference
names every field, the README is a front door (short, its links and pictures there)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
from pydantic import BaseModel

from vc3tui.cli.parser import build_parser
from vc3tui.engine.models import Blueprint

from tests import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(page: Path) -> list[str]:
    """The `vc3tui` command lines of a page's code blocks (a `$ ` prompt left off)."""
    lines, inside = [], False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        text = line.strip().removeprefix("$ ")
        if inside and (text == "vc3tui" or text.startswith("vc3tui ")):
            lines.append(text)
    return lines


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_command_line_shown_parses(page: Path) -> None:
    parser = build_parser()
    for line in command_lines(page):
        argv = shlex.split(line, comments=True)[1:]
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"{page.name}: `{line}` does not parse: {errors.getvalue().strip().splitlines()[-1]}"


def fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(prefix + name)
        inner = info.annotation
        for candidate in (inner, *getattr(inner, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names += fields(candidate, f"{prefix}{name}.")
    return names


def test_the_blueprint_reference_names_every_field() -> None:
    reference = (ROOT / "docs" / "blueprints.md").read_text()
    missing = [name for name in fields(Blueprint) if f"`{name}`" not in reference and f"[{name}]" not in reference]
    assert not missing, f"docs/blueprints.md does not describe: {missing}"


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to {target}, which is not there"
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which is not there"
    assert "./quickstart" in readme and "./tests/run" in readme

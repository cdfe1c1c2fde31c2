"""Themes from the shipped `themes/` folder, each a TOML file of Textual Theme fields, and the
one the user picked last is remembered by the engine (`Engine.remember`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

from vc3tui.engine import shipped_dir

DEFAULT_THEME = "vc3-dark"


def load_themes(folder: Path | None = None) -> tuple[list[Theme], list[str]]:
    """Every theme file, sorted by name, and one line per file that could not be used."""
    themes, problems = [], []
    for path in sorted((folder or shipped_dir("themes")).glob("*.toml")):
        try:
            themes.append(Theme(**tomllib.loads(path.read_text())))
        except (OSError, tomllib.TOMLDecodeError, TypeError) as exc:
            problems.append(f"{path}: theme skipped: {exc}")
    return themes, problems

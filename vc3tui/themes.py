"""Themes from the shipped `themes/` folder, each a TOML file of Textual Theme fields, and the
one the user picked last (config/settings.toml), so the next start opens with it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomlkit
from textual.theme import Theme

from vc3tui.engine.paths import Dirs, shipped_dir

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


def settings_path(dirs: Dirs) -> Path:
    return dirs.config / "settings.toml"


def remembered_theme(dirs: Dirs) -> str | None:
    """The theme saved last; an unreadable settings file counts as none."""
    try:
        value = tomllib.loads(settings_path(dirs).read_text()).get("theme")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) else None


def remember_theme(dirs: Dirs, name: str) -> None:
    """Save the theme, keeping the rest of the settings file and its comments."""
    path = settings_path(dirs)
    try:
        document = tomlkit.parse(path.read_text())
    except (OSError, tomlkit.exceptions.ParseError):
        document = tomlkit.document()
    document["theme"] = name
    path.write_text(tomlkit.dumps(document))

"""The user's settings file (config/settings.toml): small remembered choices such as the theme
and the name this user goes by in projects. Written with tomlkit, so comments the user added stay."""

from __future__ import annotations

import tomllib
from pathlib import Path

from vc3tui.engine.paths import Dirs, update_file


def settings_path(dirs: Dirs) -> Path:
    return dirs.config / "settings.toml"


def setting(dirs: Dirs, key: str) -> str | None:
    """A remembered string; an unreadable settings file counts as none."""
    try:
        value = tomllib.loads(settings_path(dirs).read_text()).get(key)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return value if isinstance(value, str) else None


def remember(dirs: Dirs, key: str, value: str) -> None:
    """Save one setting, keeping the rest of the file and its comments."""

    def change(text: str | None) -> str:
        import tomlkit  # keeps the user's comments; not needed to read a setting

        try:
            document = tomlkit.parse(text or "")
        except tomlkit.exceptions.ParseError:
            document = tomlkit.document()
        document[key] = value
        return tomlkit.dumps(document)

    update_file(settings_path(dirs), change)

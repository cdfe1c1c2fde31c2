"""The key bar: the screen's keys in one line, whole keys only, and a click presses a key."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.tui import fixture_clusters, running_app, shown
from vc3tui.engine.paths import Dirs
from vc3tui.widgets.footer import KeyFooter

pytestmark = pytest.mark.timeout(60)


def start_of(footer: KeyFooter, description: str) -> int:
    return next(start for start, _, key in footer._spans if key.description == description)


async def test_the_bar_shows_whole_keys_that_fit_and_the_palette(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (80, 24)) as pilot:
        await shown(pilot)
        footer = pilot.app.screen.query_one(KeyFooter)
        line = footer.render().plain
        shown_keys = [key for _, _, key in footer._spans if key is not footer.palette]
        assert len(line) == 80 and line.rstrip().endswith("^p palette")
        assert 0 < len(shown_keys) < len(footer.keys), "at 80 columns some keys are left out"
        assert [k.description for k in shown_keys] == [k.description for k in footer.keys[: len(shown_keys)]]
        for key in shown_keys:
            assert f" {key.display} {key.description} " in line
        assert footer.keys[len(shown_keys)].description not in line, "a key that does not fit is left out whole"


async def test_a_click_on_a_key_presses_it_and_a_hover_shows_which(dirs: Dirs) -> None:
    fixture_clusters(dirs)
    async with running_app(dirs, (120, 30)) as pilot:
        await shown(pilot)
        footer = pilot.app.screen.query_one(KeyFooter)
        start = start_of(footer, "Filter")
        await pilot.hover(KeyFooter, offset=(start + 1, 0))
        assert footer._spans[footer.hovered][2].description == "Filter"
        await pilot.click(KeyFooter, offset=(start + 1, 0))
        await pilot.pause()
        box = pilot.app.screen.query_one("#filter", Input)
        assert box.display and box.has_focus

"""The Textual app: views as modes, every action through the Engine facade, never blocking."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from vc3tui.engine.engine import Engine
from vc3tui.screens.clusters import ClustersScreen
from vc3tui.themes import DEFAULT_THEME, load_themes


class VC3App(App[None]):
    TITLE = "vc3tui"
    CSS_PATH = "app.tcss"
    MODES = {"clusters": ClustersScreen}
    DEFAULT_MODE = "clusters"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True, id="quit")]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        themes, self._theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        if DEFAULT_THEME in self.available_themes:
            self.theme = DEFAULT_THEME

    def on_mount(self) -> None:
        for problem in [*self._theme_problems, *self.engine.warnings]:
            self.notify(problem, severity="warning", markup=False, timeout=10)

"""The Textual app: views as modes (k9s-style keys across all of them), every action through the
Engine facade, never blocking; engine events arrive as messages, engine questions as dialogs."""

from __future__ import annotations

import gc

from textual.app import App
from textual.binding import Binding

from vc3tui.engine import Engine
from vc3tui.screens.clusters import ClustersScreen
from vc3tui.screens.jump import JumpScreen
from vc3tui.screens.keys import KeysScreen
from vc3tui.screens.question import QuestionScreen
from vc3tui.screens.quit import QuitChoice, QuitScreen
from vc3tui.themes import DEFAULT_THEME, load_themes
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.live import StoreChanged, feed


def resources_screen():
    from vc3tui.screens.resources import ResourcesScreen

    return ResourcesScreen()


def allocations_screen():
    from vc3tui.screens.allocations import AllocationsScreen

    return AllocationsScreen()


def projects_screen():
    from vc3tui.screens.projects import ProjectsScreen

    return ProjectsScreen()


class VC3App(ShowsEngineErrors, App[None]):
    TITLE = "vc3tui"
    CSS_PATH = "app.tcss"
    MODES = {"clusters": ClustersScreen, "resources": resources_screen, "allocations": allocations_screen, "projects": projects_screen}
    """The views; all but the first are imported when first opened, so the first frame comes sooner."""
    DEFAULT_MODE = "clusters"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="quit"),
        Binding("colon", "jump", "View", key_display=":"),
        Binding("question_mark", "keys", "Keys", key_display="?"),
    ]

    def __init__(self, engine: Engine, *, watch_store: bool = True, collector_paused: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.watch_store = watch_store
        self.collector_paused = collector_paused
        themes, self._theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        chosen = engine.setting("theme")
        self.theme = chosen if chosen in self.available_themes else DEFAULT_THEME if DEFAULT_THEME in self.available_themes else self.theme

    def on_mount(self) -> None:
        self._warned: set[str] = set()
        self.warn_once(self._theme_problems)
        self.watch(self, "theme", self._save_theme, init=False)
        if self.watch_store:
            self.run_worker(feed(self.engine, self._broadcast), name="engine-feed", group="feed")
        self.answer_questions()

    def on_ready(self) -> None:
        if self.collector_paused:  # by cli.tui_app: what exists after the first frame lives as long as the app
            gc.freeze()
            gc.enable()

    def warn_once(self, problems: list[str]) -> None:
        """A notice per problem, and the store's (a row it cannot read, say) as they are found."""
        for problem in [*problems, *self.engine.warnings]:
            if problem not in self._warned:
                self._warned.add(problem)
                self.notify(problem, severity="warning", markup=False, timeout=10)

    def _broadcast(self, message: StoreChanged) -> None:
        """Every screen on the stack hears it: the one under a dialog keeps its counts current."""
        self.warn_once([])
        for screen in self.screen_stack:
            screen.post_message(StoreChanged(message.cluster_ids))

    @engine_work(group="theme")
    async def _save_theme(self, name: str) -> None:
        self.engine.remember("theme", name)

    @engine_work(group="questions")
    async def answer_questions(self) -> None:
        channel = self.engine.questions
        async for question in channel.questions():
            answer = await self.push_screen_wait(QuestionScreen(question))
            if answer is None:
                channel.cancel(question.id)
            else:
                channel.answer(question.id, answer)

    @engine_work
    async def action_jump(self) -> None:
        view = await self.push_screen_wait(JumpScreen(sorted(self.MODES)))
        if view:
            await self.switch_mode(view)

    def action_keys(self) -> None:
        """The view's own keys first, then the app's, then those of the focused widget."""
        screen = self.screen
        own, ours = type(screen).BINDINGS, type(self).BINDINGS
        found = sorted(screen.active_bindings.values(), key=lambda active: 0 if active.binding in own else 1 if active.binding in ours else 2)
        keys, seen = [], set()
        for active in found:
            binding = active.binding
            if binding.description and binding.action not in seen:
                seen.add(binding.action)
                keys.append((binding.key_display or self.get_key_display(binding), binding.description))
        self.push_screen(KeysScreen(screen.title or self.current_mode, keys))

    @engine_work(exclusive=True, group="quit")
    async def action_quit(self) -> None:
        managed = self.engine.managed()
        if managed:
            names = {row.cluster.id: row.cluster.name for row in await self.engine.cluster_rows()}
            choice = await self.push_screen_wait(QuitScreen([names.get(i, i) for i in managed]))
            if choice is None:
                return
            for cluster_id in managed:
                if choice is QuitChoice.TERMINATE:
                    await self.engine.terminate(cluster_id, peaceful=False)
                await self.engine.release(cluster_id)
                if choice in (QuitChoice.HAND_OFF, QuitChoice.TERMINATE):
                    self.engine.hand_off(names.get(cluster_id, cluster_id))
        self.exit()

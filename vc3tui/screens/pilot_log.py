"""`l`: a pilot's log, fetched from its site when asked; shown as plain text (never markup)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from vc3tui.engine import VC3Error, printable_lines
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.footer import KeyFooter


class PilotLogScreen(ShowsEngineErrors, ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Back"), Binding("r", "reload", "Reload")]

    def __init__(self, cluster_id: str, tag: str, label: str) -> None:
        super().__init__()
        self.cluster_id = cluster_id
        self.tag = tag
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(f"log of {self.label} (fetching...)", id="title", markup=False, classes="title")
        yield Log(id="log", highlight=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.action_reload()

    @engine_work(exclusive=True)
    async def action_reload(self) -> None:
        try:
            text = await self.app.engine.pilot_log(self.cluster_id, self.tag)
        except VC3Error as exc:  # a site that cannot be reached is said in the log's place
            text = f"could not fetch the log: {exc}"
        log = self.query_one(Log)
        log.clear()
        log.write(printable_lines(text))
        self.query_one("#title", Static).update(f"log of {self.label}")

    def action_close(self) -> None:
        self.dismiss(None)

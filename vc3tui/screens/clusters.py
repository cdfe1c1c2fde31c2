"""Clusters view: every cluster in the store with its state, conditions and pilot counts."""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from vc3tui.engine.engine import ClusterRow
from vc3tui.engine.durations import format_duration

COLUMNS = ("Name", "State", "Reason", "Middleware", "Req", "Run", "Queue", "Err", "Head", "Expires")
STATE_COLOUR = {
    "running": "status-running",
    "starting_head": "status-queued",
    "new": "status-queued",
    "failed": "status-error",
    "terminating": "status-drained",
    "terminated": "status-drained",
}

EMPTY_HINT = (
    "No clusters yet. Start the local example from a shell:\n"
    "  vc3tui --run examples/local-dask.toml"
)


class ClustersScreen(Screen[None]):
    BINDINGS = [Binding("r", "refresh", "Refresh", id="refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="clusters", cursor_type="row", zebra_stripes=True)
        yield Static(EMPTY_HINT, id="empty", classes="hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_rows()

    @work(exclusive=True)
    async def load_rows(self) -> None:
        rows = await self.app.engine.cluster_rows()
        self.show_rows(rows)

    def show_rows(self, rows: list[ClusterRow]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        colours = self.app.theme_variables
        for row in rows:
            table.add_row(*cells(row, colours), key=row.cluster.id)
        table.display = bool(rows)
        self.query_one("#empty").display = not rows


def cells(row: ClusterRow, colours: dict[str, str], now: float | None = None) -> tuple[Text | str, ...]:
    """One table row; site text goes in as plain Text so a stray '[' is never read as markup."""
    cluster, counts = row.cluster, row.counts
    conditions = ", ".join(c.kind for c in cluster.conditions)
    reason = " ".join(part for part in (conditions, cluster.reason) if part)
    head = cluster.head.hostname or cluster.head.host if cluster.head else "-"
    expires = "-"
    if cluster.expires_at:
        expires = format_duration(max(0, int(cluster.expires_at - (now or time.time()))))
    return (
        Text(cluster.name),
        Text(cluster.state, style=colours.get(STATE_COLOUR[cluster.state], "")),
        Text(reason),
        cluster.blueprint.middleware.value,
        str(counts.requested),
        str(counts.running),
        str(counts.queued),
        str(counts.error),
        Text(head),
        expires,
    )

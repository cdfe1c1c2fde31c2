"""Clusters view: every cluster with its state and conditions, middleware, pilot counts, head
node and expiration; `/` filters, enter opens one, `n` launches, `j` joins a teammate's shared
cluster, and the resize keys work on the selected row. An empty store shows the next step."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from vc3tui.engine import Allocation, AllocationState, Cluster, ClusterRow, LOCAL, WorkerCount, checked, format_duration, printable
from vc3tui.screens.fields import Field, FieldsScreen
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.filtering import FILTER_BINDINGS, TableFilter
from vc3tui.widgets.live import StoreChanged, StoreView
from vc3tui.widgets.resizing import RESIZE_BINDINGS, ResizeKeys

COLUMNS = tuple((label, None) for label in ("Name", "State", "Conditions", "Middleware", "Req", "Run", "Queue", "Err", "Head", "Expires"))
STATE_COLOUR = {
    "running": "status-running",
    "starting_head": "status-queued",
    "new": "status-queued",
    "failed": "status-error",
    "terminating": "status-drained",
    "terminated": "status-drained",
}


def getting_started(allocations: list[Allocation], user_resources: bool) -> str:
    """What an empty store shows: the next step from a login somewhere to a running cluster."""
    mine = [a for a in allocations if a.name != LOCAL]
    ready = [a.name for a in mine if a.state is AllocationState.READY]
    picked = bool(mine or user_resources)
    if ready:
        allocation = f"done: {', '.join(ready)} ready"
    elif mine:
        allocation = f"{mine[0].name} is {mine[0].state}: open it in the Allocations view (: allocations, enter)"
    else:
        allocation = "the Allocations view (: allocations), n"
    steps = (
        (picked, "Pick a resource", "the Resources view (: resources) lists the sites; n adds your own"),
        (bool(ready), "Create an allocation on it", allocation),
        (False, "Launch a cluster", "n here, on your allocation or on `local` (this machine, ready now)"),
    )
    lines = ["No clusters yet. From a login somewhere to a cluster of your own:", ""]
    lines += [f"  {'✓' if done else ' '} {n}. {title}: {how}" for n, (done, title, how) in enumerate(steps, 1)]
    lines += ["", "A teammate's cluster: import their project (: projects, i), then j here.", "From a shell: vc3tui --run examples/local-dask.toml"]
    return "\n".join(lines)


class ClustersScreen(ShowsEngineErrors, TableFilter, ResizeKeys, StoreView, Screen[None]):
    TITLE = "Clusters"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        *FILTER_BINDINGS,
        Binding("n", "launch", "Launch"),
        Binding("j", "join", "Join"),
        Binding("t", "invite", "Ticket"),
        *RESIZE_BINDINGS,
    ]
    filtered_table = "#clusters"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ClusterRow] = []

    def compose(self) -> ComposeResult:
        return self.table_view(Static("", id="empty", classes="hint", markup=False), columns=COLUMNS)

    def post_message_changed(self) -> None:
        self.post_message(StoreChanged(None))

    async def reload(self) -> None:
        engine = self.app.engine
        self.rows = await engine.cluster_rows()
        if not self.rows:
            self.query_one("#empty", Static).update(getting_started(await engine.allocations(), engine.resources.has_user_resources()))
        self.show_rows()
        self.app.warn_once([])  # reading the clusters may have found a row the store cannot read

    def show_rows(self) -> None:
        table = self.query_one(DataTable)
        selected = self.selected_cluster()
        table.clear()
        colours = self.app.theme_variables
        shown = [row for row in self.rows if self._matches(row)]
        for row in shown:
            table.add_row(*cells(row, colours), key=row.cluster.id)
        if selected is not None and any(row.cluster.id == selected.id for row in shown):
            table.move_cursor(row=table.get_row_index(selected.id))
        table.display = bool(shown)
        self.query_one("#empty").display = not self.rows

    def _matches(self, row: ClusterRow) -> bool:
        if not self.text_filter:
            return True
        cluster = row.cluster
        haystack = " ".join((cluster.name, cluster.state, cluster.blueprint.middleware.value, cluster.reason)).lower()
        return self.text_filter in haystack

    def selected_cluster(self) -> Cluster | None:
        table = self.query_one(DataTable)
        if not table.row_count or not table.display:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((row.cluster for row in self.rows if row.cluster.id == key), None)

    def action_open(self) -> None:
        cluster = self.selected_cluster()
        if cluster is not None:
            from vc3tui.screens.cluster import ClusterScreen  # opened on enter: not needed for the first frame

            self.app.push_screen(ClusterScreen(cluster.id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    @engine_work
    async def action_launch(self) -> None:
        engine = self.app.engine
        allocations = ["local", *sorted(a.name for a in await engine.allocations() if a.name != "local")]
        environments = sorted(e.name for e in await engine.environments() if e.name)
        from vc3tui.screens.launch import LaunchScreen

        name = await self.app.push_screen_wait(LaunchScreen(allocations, environments, await engine.builder_packages()))
        if name:
            self.notify(f"{name}: launched; this window manages it", markup=False)
            self.post_message_changed()

    @engine_work
    async def action_join(self) -> None:
        """Add pilots from my allocations to a teammate's shared cluster (from an imported project)."""
        engine = self.app.engine
        joinable = await engine.joinable()
        if not joinable:
            self.notify("no shared cluster to join: import the project file its owner exported after launching it (: projects, i)", severity="warning", markup=False)
            return
        ready = [a.name for a in await engine.allocations() if a.state is AllocationState.READY]
        fields = [
            Field("cluster", "Cluster", choices=tuple((f"{c.name}: {c.owner}'s {c.middleware} in {p.name}", c.name) for p, c in joinable)),
            Field("allocation", "Pilots from", choices=(("the project's ready allocations", ""), *((a, a) for a in ready))),
            Field("workers", "Workers you add", "1"),
            Field("ticket", "Join ticket file from its owner (empty: none)"),
        ]  # fmt: skip
        answer = await self.app.push_screen_wait(FieldsScreen("Join a shared cluster", fields, "Join"))
        if not answer:
            return
        cluster = await engine.join(
            answer["cluster"], allocations=[answer["allocation"]] if answer["allocation"] else None,
            workers=checked(WorkerCount, answer["workers"], "workers"),
            ticket=Path(answer["ticket"]).expanduser() if answer["ticket"] else None,
        )  # fmt: skip
        self.notify(f"{cluster.name}: joining {cluster.blueprint.head.address}; this window manages your pilots", markup=False)
        self.post_message_changed()

    @engine_work
    async def action_invite(self) -> None:
        """A join ticket for the selected cluster: what teammates' workers need to join it."""
        cluster = self.selected_cluster()
        if cluster is None:
            return
        answer = await self.app.push_screen_wait(FieldsScreen(f"Join ticket for {cluster.name} (pass it only to members)", [Field("path", "Write it to", str(Path.cwd() / f"{cluster.name}-ticket.toml"))], "Write"))
        if not answer:
            return
        path = Path(answer["path"]).expanduser()
        await self.app.engine.invite(cluster.name, path)
        self.notify(f"join ticket written to {path} (0600): pass it only to members, as you would a password", markup=False)

    def filter_changed(self) -> None:
        self.show_rows()


def cells(row: ClusterRow, colours: dict[str, str], now: float | None = None) -> tuple[Text | str, ...]:
    """One table row; site text goes in as plain Text so a stray '[' is never read as markup."""
    cluster, counts = row.cluster, row.counts
    conditions = "; ".join(f"{c.kind}: {c.reason}" if c.reason else str(c.kind) for c in cluster.conditions)
    reason = conditions or cluster.reason
    head = cluster.head.hostname or cluster.head.host if cluster.head else "-"
    expires = "-"
    if cluster.expires_at:
        expires = format_duration(max(0, int(cluster.expires_at - (now or time.time()))))
    return (
        Text(cluster.name),
        Text(cluster.state, style=colours.get(STATE_COLOUR[cluster.state], "")),
        Text(printable(reason)),
        cluster.blueprint.middleware.value,
        str(counts.requested),
        str(counts.running),
        str(counts.queued),
        str(counts.error),
        Text(head or "-"),
        expires,
    )

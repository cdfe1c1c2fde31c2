"""One cluster: its state and conditions, the head node and how to reach it, workers over time,
the pilots table and the event log. The pilots table is updated row by row (only what changed),
and only its visible rows are drawn, so a 10,000-pilot cluster stays responsive."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Log, Sparkline, Static

from vc3tui.cli.terminal import LocalTerminal
from vc3tui.engine import Cluster, ClusterCounts, PilotLine, PilotStage, PilotState, SiteCounts, format_duration, printable, relay_port_name
from vc3tui.screens.pilot_log import PilotLogScreen
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.filtering import TableFilter
from vc3tui.widgets.footer import KeyFooter
from vc3tui.widgets.live import StoreChanged, StoreView
from vc3tui.widgets.resizing import RESIZE_BINDINGS, ResizeKeys

PILOT_COLUMNS = ("Pilot", "Allocation", "Job", "Stage", "Age", "Reason")
HISTORY = 120
"""Samples of running workers kept for the sparkline (one per refresh)."""
STAGE_COLOUR = {
    "queued": "status-queued",
    "building": "status-queued",
    "ready": "status-running",
    "worker joined": "status-running",
    "draining": "status-drained",
    "exited": "status-drained",
    "failed": "status-error",
    "held": "status-error",
    "unknown": "status-error",
    "lost": "status-error",
}


def stage_of(line: PilotLine) -> str:
    """The stage a person asks about: queued / building / ready / worker joined / exited."""
    state = line.state
    if state in (PilotState.INTENT, PilotState.QUEUED):
        return "queued"
    if state == PilotState.RUNNING:
        if line.stage == PilotStage.WORKER_JOINED:
            return "worker joined"
        if line.stage in (PilotStage.READY, PilotStage.WORKER_STARTED):
            return "ready"
        return "building"
    if state == PilotState.DONE:
        return "exited"
    return str(state)


def age(seconds: int) -> str:
    """k9s-style, in one unit: '<1m', '5m', '3h', '2d'; coarse so rows change once a minute at
    most, not at every refresh."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"


def per_site(cluster: Cluster, counts: ClusterCounts) -> list[str]:
    """For a cluster over several allocations, or one reached through a relay: each site's pilots
    and the way its workers reach the head."""
    names = [use.name for use in cluster.blueprint.allocations]
    relays = {name: port for name in names if (port := (cluster.head.ports if cluster.head else {}).get(relay_port_name(name)))}
    if len(names) < 2 and not relays:
        return []
    lines = []
    for name in names:
        site = counts.sites.get(name) or SiteCounts()
        away = f", {site.unknown} unknown (the site does not answer)" if site.unknown else ""
        path = f"; workers reach the head through {name}'s login node (relay port {relays[name]})" if name in relays else ""
        lines.append(f"  {name}: {site.running} running, {site.queued} queued{away}{path}")
    return lines


def pilot_facts(line: PilotLine, now: float) -> tuple[str, ...]:
    """A row's plain strings: compared with the last refresh's before any cell is built."""
    since = line.started_at or line.submitted_at or line.created_at
    return (str(line.index), line.allocation, line.job_id or "-", stage_of(line), age(int((line.ended_at or now) - since)), line.reason or "")


def pilot_cells(facts: tuple[str, ...], colours: dict[str, str]) -> tuple[Text | str, ...]:
    """Site text (job ids, reasons) as plain Text, never read as markup."""
    index, allocation, job, stage, pilot_age, reason = facts
    return (index, allocation, Text(job), Text(stage, style=colours.get(STAGE_COLOUR.get(stage, ""), "")), pilot_age, Text(reason))


class ClusterScreen(ShowsEngineErrors, TableFilter, ResizeKeys, StoreView, Screen[None]):
    BINDINGS = [
        Binding("escape", "clear_filter", "Back / clear filter"),
        Binding("slash", "filter", "Filter", key_display="/"),
        *RESIZE_BINDINGS,
        Binding("l", "pilot_log", "Pilot log"),
        Binding("s", "shell", "Shell on head"),
    ]

    def __init__(self, cluster_id: str) -> None:
        super().__init__()
        self.cluster_id = cluster_id
        self.cluster: Cluster | None = None
        self.history: list[float] = []
        self.shown: dict[str, tuple] = {}
        self.lines: list[PilotLine] = []
        self.last_event = 0
        self.links: list[tuple[str, str]] = []
        self.links_for: tuple[str, bool] = ("", False)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="summary"):
            yield Static("", id="facts", markup=False)
            with Vertical(id="trend"):
                yield Static("workers over time", classes="label")
                yield Sparkline([], id="workers")
        yield DataTable(id="pilots", cursor_type="row", zebra_stripes=True)
        yield Log(id="events", highlight=False, max_lines=500)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#pilots", DataTable)
        for label in PILOT_COLUMNS:
            table.add_column(label, key=label)

    def wants(self, message: StoreChanged) -> bool:
        return message.cluster_ids is None or self.cluster_id in message.cluster_ids

    def post_message_changed(self) -> None:
        self.post_message(StoreChanged(None))

    def selected_cluster(self) -> Cluster | None:
        return self.cluster

    async def reload(self) -> None:
        engine = self.app.engine
        row = await engine.status(self.cluster_id)
        pilots = await engine.pilot_lines(self.cluster_id)
        events = await engine.cluster_events(self.cluster_id)
        head = row.cluster.head
        if head and head.address and (head.address, "jupyter" in head.ports) != self.links_for:
            self.links_for = (head.address, "jupyter" in head.ports)  # forwards are made once, not at every refresh
            self.links = await engine.head_links(self.cluster_id)
        self.cluster = row.cluster
        self.title = f"Cluster {row.cluster.name}"
        self.history = [*self.history, float(row.counts.running)][-HISTORY:]
        self.query_one("#facts", Static).update(self.facts(row.counts))
        self.query_one("#workers", Sparkline).data = self.history
        self.lines = pilots
        self.update_pilots(pilots)
        log = self.query_one("#events", Log)
        for event in events:
            if event.id and event.id > self.last_event:
                log.write_line(f"{time.strftime('%H:%M:%S', time.localtime(event.at))}  {event.kind}: {printable(event.message)}")
                self.last_event = event.id

    def facts(self, counts: ClusterCounts) -> Text:
        cluster = self.cluster
        lines = [
            f"{cluster.name}  {cluster.state}: {printable(cluster.reason)}",
            f"{cluster.blueprint.middleware.value}, {counts.requested} requested, {counts.running} running, "
            f"{counts.queued} queued, {counts.error} error; {'peaceful' if cluster.peaceful else 'at once'} resizing",
        ]
        lines += [f"  {c.kind}{' (' + c.allocation + ')' if c.allocation else ''}: {printable(c.reason)}" for c in cluster.conditions]
        head = cluster.head
        if head and head.address:
            where = head.hostname or head.host
            login = "on this machine" if not head.allocation else f"log in: ssh {head.host}, then the node {where}"
            lines.append(f"head {head.address} ({login})")
        lines += per_site(cluster, counts)
        if self.links:
            lines.append("open: " + "  ".join(f"{name} {url}" for name, url in self.links))
        if cluster.expires_at:
            lines.append(f"expires in {format_duration(max(0, int(cluster.expires_at - time.time())))}")
        return Text("\n".join(lines))

    def update_pilots(self, lines: list[PilotLine]) -> None:
        """Only rows that changed are built and touched: a 10,000-pilot refresh with a few
        changes costs a comparison of plain tuples per row."""
        table = self.query_one("#pilots", DataTable)
        colours, now = self.app.theme_variables, time.time()
        current = {line.tag: pilot_facts(line, now) for line in lines}
        if self.text_filter:
            current = {tag: facts for tag, facts in current.items() if any(self.text_filter in fact.lower() for fact in facts)}
        for tag in [tag for tag in self.shown if tag not in current]:
            table.remove_row(tag)
            del self.shown[tag]
        for tag, facts in current.items():
            before = self.shown.get(tag)
            if before == facts:
                continue
            cells = pilot_cells(facts, colours)
            if before is None:
                table.add_row(*cells, key=tag)
            else:
                row = table.get_row_index(tag)
                for column, (old, new) in enumerate(zip(before, facts)):
                    if old != new:
                        table.update_cell_at((row, column), cells[column])
            self.shown[tag] = facts

    @engine_work(exclusive=True, group="shell")
    async def action_shell(self) -> None:
        """The app steps aside (suspended) while the shell has the terminal; factories keep going."""
        if self.cluster is None or not self.cluster.state.live:
            self.notify("no live cluster", severity="warning")
            return
        try:
            with self.app.suspend():
                code = await self.app.engine.head_shell(self.cluster_id, LocalTerminal())
        except SuspendNotSupported:
            self.notify("a shell needs a real terminal", severity="warning")
            return
        self.notify(f"shell ended (status {code})", markup=False)

    def filter_changed(self) -> None:
        """Rows that stop matching go, rows that start matching come, then pilot order again."""
        self.update_pilots(self.lines)
        self.query_one("#pilots", DataTable).sort("Pilot", key=int)

    def action_back_out(self) -> None:
        self.app.pop_screen()

    def action_pilot_log(self) -> None:
        table = self.query_one("#pilots", DataTable)
        if table.row_count:
            tag = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            index, allocation, job = self.shown[tag][:3]
            self.app.push_screen(PilotLogScreen(self.cluster_id, tag, f"pilot {index} ({allocation}, job {job})"))

"""Projects view: the team's projects, and the selected one in full beside them. A project is a
file people exchange (`x` writes it, `i` takes one in); `n` starts one, `m` adds a member, `a`
shares an allocation, `b` a blueprint, `r` removes any of them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from vc3tui.engine import LOCAL, Member, Project, checked, summary_lines
from vc3tui.screens.confirm import ConfirmScreen
from vc3tui.screens.fields import Field, FieldsScreen
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.footer import KeyFooter
from vc3tui.widgets.live import StoreView

COLUMNS = (("Name", 14), ("Members", 7), ("Allocations", 11), ("Blueprints", 10), ("Clusters", 8))
EMPTY_HINT = (
    "No projects yet. A project is a file your team passes around: members, where they run, what they run "
    "(never a login or a key).\n\nn  start one with you as its first member\ni  take in a file someone sent you"
)


def on_selected(action: Callable[[ProjectsScreen, Project], Awaitable[None]]) -> Callable[[ProjectsScreen], None]:
    """An action on the project under the cursor, run as engine work; with none, a notice says how
    to get one."""

    @functools.wraps(action)
    async def run(self: ProjectsScreen) -> None:
        project = self.selected()
        if project is None:
            self.notify("no project yet: n starts one, i imports a file", severity="warning")
            return
        await action(self, project)

    return engine_work(run)


class ProjectsScreen(ShowsEngineErrors, StoreView, Screen[None]):
    TITLE = "Projects"
    BINDINGS = [
        Binding("n", "create", "New"),
        Binding("i", "import_file", "Import"),
        Binding("x", "export", "Export"),
        Binding("m", "add_member", "Member"),
        Binding("a", "add_allocation", "Allocation"),
        Binding("b", "add_blueprint", "Blueprint"),
        Binding("r", "remove", "Remove"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.projects: list[Project] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="project-panes"):
            yield DataTable(id="projects", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="project-detail"):
                yield Static("", id="detail", markup=False)
        yield Static(EMPTY_HINT, id="empty", classes="hint", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, width=width)

    async def reload(self, select: str | None = None) -> None:
        """Read the projects; the table is drawn again only when they changed (or to move to `select`)."""
        projects = await self.app.engine.projects.all()
        if projects != self.projects or not self.query_one(DataTable).row_count or select:
            self.projects = projects
            self.show_rows(select)

    def show_rows(self, select: str | None = None) -> None:
        table = self.query_one(DataTable)
        select = select or (self.selected().name if self.selected() else None)
        table.clear()
        for p in self.projects:
            table.add_row(p.name, str(len(p.members)), str(len(p.allocations)), str(len(p.blueprints)), str(len(p.clusters)), key=p.name)
        if select and select in table.rows:
            table.move_cursor(row=table.get_row_index(select))
        self.query_one("#project-panes").display = bool(self.projects)
        self.query_one("#empty").display = not self.projects
        self.sub_title = f"you are {self.app.engine.projects.me}"
        self.show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        project = self.selected()
        self.query_one("#detail", Static).update("\n".join(summary_lines(project)) if project else "")

    def selected(self) -> Project | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((p for p in self.projects if p.name == name), None)

    async def _ask(self, title: str, fields: list[Field], action: str = "OK") -> dict[str, str] | None:
        return await self.app.push_screen_wait(FieldsScreen(title, fields, action))

    async def _done(self, project: Project, message: str) -> None:
        await self.reload(select=project.name)
        self.notify(message, markup=False)

    @engine_work
    async def action_create(self) -> None:
        answer = await self._ask("Start a project (you are its first member)", [Field("name", "Project name"), Field("description", "What it is for")], "Create")
        if answer:
            project = await self.app.engine.projects.create(answer["name"], answer["description"])
            await self._done(project, f"project {project.name} started")

    @engine_work
    async def action_import_file(self) -> None:
        answer = await self._ask("Take in a project file", [Field("path", "Path of the .toml file", str(Path.cwd()) + "/")], "Import")
        if not answer:
            return
        path = Path(answer["path"]).expanduser()
        replaces = await self.app.engine.projects.would_replace(path)
        if replaces and not await self.app.push_screen_wait(ConfirmScreen(f"{path.name} would replace what you have: {'; '.join(replaces)}.", "Replace")):
            return
        project, report = await self.app.engine.projects.import_file(path, replace=bool(replaces))
        await self._done(project, f"project {project.name} imported: " + "; ".join(report))

    @on_selected
    async def action_export(self, project: Project) -> None:
        answer = await self._ask(f"Write {project.name} to a file for the other members", [Field("path", "Path", str(Path.cwd() / f"{project.name}.toml"))], "Export")
        if answer:
            path = Path(answer["path"]).expanduser()
            project = await self.app.engine.export_project(project.name, path)
            await self._done(project, f"project {project.name} written to {path} (no logins, no keys)")

    @on_selected
    async def action_add_member(self, project: Project) -> None:
        fields = [Field("name", "Member name"), Field("email", "Email (optional)"), Field("fingerprint", "Their key's fingerprint, SHA256:... (optional)")]
        answer = await self._ask(f"Add a member to {project.name}", fields, "Add")
        if answer:
            member = checked(Member, {"name": answer["name"], "email": answer["email"], "key_fingerprint": answer["fingerprint"]}, "member")
            project = await self.app.engine.projects.add_member(project.name, member)
            await self._done(project, f"{member.name} added to {project.name}")

    @on_selected
    async def action_add_allocation(self, project: Project) -> None:
        mine = [a for a in await self.app.engine.allocations() if a.name != LOCAL]
        if not mine:
            self.notify("you have no allocation to share yet: create one in the Allocations view", severity="warning")
            return
        fields = [
            Field("allocation", "Allocation (its resource and account are shared; never the login or key)", choices=tuple((f"{a.name} on {a.resource}", a.name) for a in mine)),
            Field("owner", "Owned by", self.app.engine.projects.me, choices=tuple((m.name, m.name) for m in project.members)),
        ]  # fmt: skip
        answer = await self._ask(f"Share an allocation in {project.name}", fields, "Share")
        if answer:
            project = await self.app.engine.projects.add_allocation(project.name, answer["allocation"], answer["owner"])
            await self._done(project, f"{answer['allocation']} shared in {project.name}")

    @on_selected
    async def action_add_blueprint(self, project: Project) -> None:
        answer = await self._ask(f"Share a blueprint in {project.name}", [Field("path", "Blueprint file", str(Path.cwd()) + "/")], "Share")
        if answer:
            path = Path(answer["path"]).expanduser()
            project = await self.app.engine.projects.add_blueprint(project.name, path)
            await self._done(project, f"blueprint {path.stem} shared in {project.name}")

    @on_selected
    async def action_remove(self, project: Project) -> None:
        entries = [(f"member {m.name}", f"member:{m.name}") for m in project.members]
        entries += [(f"allocation {d.name}", f"allocation:{d.name}") for d in project.allocations]
        entries += [(f"blueprint {b.name}", f"blueprint:{b.name}") for b in project.blueprints]
        answer = await self._ask(f"Remove from {project.name}", [Field("entry", "Which", choices=tuple(entries))], "Remove")
        if not answer:
            return
        kind, name = answer["entry"].split(":", 1)
        projects = self.app.engine.projects
        remove = {
            "member": lambda: projects.remove_member(project.name, name),
            "allocation": lambda: projects.remove_allocation(project.name, name),
            "blueprint": lambda: projects.remove_blueprint(project.name, name),
        }[kind]
        project = await remove()
        await self._done(project, f"{kind} {name} removed from {project.name}")

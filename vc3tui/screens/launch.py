"""`n`: the launch form. Its fields are the `vc3tui blueprint new` flags, given to the same engine
function, so a form and a command line make the same blueprint, checked the same way; it
launches it, or saves it as a file.
The environment is picked from named environments and the builder's recipes, never typed."""

from __future__ import annotations

import shlex
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from vc3tui.engine import (
    LOCAL, AllocationUse, Blueprint, BlueprintValues, Environment, MiddlewareKind, VC3Error, format_duration, software_summary,
)  # fmt: skip
from vc3tui.widgets.dialog import Dialog
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work

MIDDLEWARE = [kind.value for kind in MiddlewareKind if kind is not MiddlewareKind.JUPYTERLAB]


class LaunchScreen(ShowsEngineErrors, Dialog[str | None]):
    """Dismissed with the launched cluster's name, or None."""

    BINDINGS = [Binding("ctrl+l", "launch", "Launch"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, allocations: list[str], environments: list[str], packages: list[str]) -> None:
        super().__init__()
        self.allocations = allocations
        self.environments = environments
        self.packages = sorted(packages)
        self.carried_pip: list[str] = []
        """pip requirements of a loaded blueprint: kept, though the form has no field for them."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form"):
            yield Static("Launch a cluster   (ctrl+l launch, ctrl+s save, esc cancel)", classes="question")
            yield Static("", id="problems", classes="problem", markup=False)
            yield Label("From a blueprint file (fills the form; or start from a middleware below)")
            with Horizontal(classes="pair"):
                yield Input(placeholder="e.g. examples/local-dask.toml", id="source")
                yield Button("Load", id="load")
            yield Label("Name")
            yield Input(placeholder="1-64 of A-Z a-z 0-9 _ -", id="name")
            yield Label("Description")
            yield Input(id="description")
            yield Label("Middleware")
            yield Select([(kind, kind) for kind in MIDDLEWARE], value="dask", allow_blank=False, id="middleware")
            yield Label("Named environment (or pick packages below)")
            yield Select([(name, name) for name in self.environments], prompt="none", id="environment")
            yield Label("Packages from the builder's recipes")
            yield SelectionList[str](*[(name, name) for name in self.packages], id="packages")
            yield Label("Software (each site's builder says at launch where every piece comes from)")
            yield Static("", id="software", markup=False)
            yield Label("Allocations (where the pilots run)")
            yield SelectionList[str](*[(name, name, name == LOCAL) for name in self.allocations], id="allocations")
            yield Label("Workers, and each one's walltime")
            with Horizontal(classes="pair"):
                yield Input("1", type="integer", id="workers")
                yield Input("1h", id="walltime")
            yield Label("Head node")
            places = [("auto (where every site's nodes reach it)", "auto"), *((f"on {p}", p) for p in ["local", *[a for a in self.allocations if a != "local"], "external"])]
            yield Select(places, value="auto", allow_blank=False, id="head")
            yield Input(placeholder="external head: its address, e.g. tcp://sched:8786", id="head_address")
            yield Label("Worker command (middleware none)")
            yield Input(placeholder="e.g. ./work.sh --fast", id="worker_command")
            yield Label("Expires after (empty: never)")
            yield Input(placeholder="e.g. 72h", id="expiration")
            yield Label("Save as (for Save)")
            yield Input(placeholder="e.g. ~/blueprints/physics.toml", id="path")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save")
                yield Button("Launch", id="launch", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self.show_software()

    @on(Select.Changed)
    @on(SelectionList.SelectedChanged, "#packages")
    def show_software(self) -> None:
        """What the middleware and the picked packages bring, and from where."""
        environment = self.query_one("#environment", Select).value
        middleware = MiddlewareKind(self.query_one("#middleware", Select).value)
        blueprint = Blueprint(
            name="form", middleware=middleware, allocations=[AllocationUse(name=LOCAL)],
            environment=Environment(
                name=environment if isinstance(environment, str) else None,
                require=list(self.query_one("#packages", SelectionList).selected), pip=self.carried_pip,
            ),
        )  # fmt: skip
        self.query_one("#software", Static).update("; ".join(software_summary(blueprint)) or "nothing beyond the site's own")

    def value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    async def blueprint(self) -> Blueprint | None:
        """The form as a blueprint, or None with every problem shown, one line each."""
        try:
            command = shlex.split(self.value("worker_command")) or None
        except ValueError as exc:
            self.problems([f"worker command: {exc}"])
            return None
        environment = self.query_one("#environment", Select).value
        values = BlueprintValues(
            name=self.value("name"), description=self.value("description"), middleware=str(self.query_one("#middleware", Select).value),
            allocations=list(self.query_one("#allocations", SelectionList).selected), workers=self.value("workers") or 0,
            walltime=self.value("walltime"), expiration=self.value("expiration") or None,
            require=list(self.query_one("#packages", SelectionList).selected), pip=self.carried_pip,
            environment=environment if isinstance(environment, str) else None,
            head=str(self.query_one("#head", Select).value), head_address=self.value("head_address") or None, worker_command=command,
        )  # fmt: skip
        try:
            return await self.app.engine.new_blueprint(values)
        except VC3Error as exc:
            self.problems(exc.problems or [str(exc)])
            return None

    def problems(self, lines: list[str]) -> None:
        problems = self.query_one("#problems", Static)
        problems.update("\n".join(lines))
        problems.scroll_visible()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"cancel": self.action_cancel, "save": self.action_save, "launch": self.action_launch, "load": self.load}[event.button.id]()

    @engine_work(exclusive=True)
    async def load(self) -> None:
        """Fill the form from a blueprint file, checked as `vc3tui --run` checks it."""
        path = Path(self.value("source")).expanduser()
        try:
            blueprint = await self.app.engine.load_blueprint(path)
        except VC3Error as exc:
            self.problems(exc.problems or [str(exc)])
            return
        fields = {"name": blueprint.name, "description": blueprint.description, "workers": str(blueprint.workers.count),
                  "walltime": format_duration(blueprint.workers.walltime),
                  "worker_command": shlex.join(blueprint.workers.command or []),
                  "expiration": format_duration(blueprint.expiration) if blueprint.expiration else "",
                  "head_address": blueprint.head.address or ""}  # fmt: skip
        for widget_id, text in fields.items():
            self.query_one(f"#{widget_id}", Input).value = text
        self.query_one("#middleware", Select).value = blueprint.middleware.value
        self.query_one("#head", Select).value = blueprint.head.allocation or blueprint.head.placement.value
        for list_id, chosen in (("packages", blueprint.environment.require), ("allocations", [u.name for u in blueprint.allocations])):
            choices = self.query_one(f"#{list_id}", SelectionList)
            choices.deselect_all()
            for value in chosen:
                choices.select(value)
        self.carried_pip = list(blueprint.environment.pip)
        self.show_software()
        self.problems([])
        self.notify(f"loaded {path}" + (f" (pip: {' '.join(self.carried_pip)})" if self.carried_pip else ""), markup=False)

    @engine_work(exclusive=True)
    async def action_save(self) -> None:
        blueprint = await self.blueprint()
        if blueprint is None:
            return
        if not self.value("path"):
            self.problems(["Save as: give a file name"])
            return
        path = Path(self.value("path")).expanduser()
        try:
            await self.app.engine.save_blueprint(blueprint, path)
        except VC3Error as exc:
            self.problems([str(exc)])
            return
        self.problems([])
        self.notify(f"wrote {path}", markup=False)

    @engine_work(exclusive=True)
    async def action_launch(self) -> None:
        blueprint = await self.blueprint()
        if blueprint is None:
            return
        try:
            cluster = await self.app.engine.launch(blueprint)
        except VC3Error as exc:
            self.problems(exc.problems or [str(exc)])
            return
        self.dismiss(cluster.name)

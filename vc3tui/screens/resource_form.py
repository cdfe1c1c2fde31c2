"""Adding or editing a user resource: every field of a site profile, checked by the same model
as resources.toml, saved into the user's resources.toml (shipped profiles are overridden, never
changed)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from vc3tui.engine import BatchKind, Resource, VC3Error, checked
from vc3tui.widgets.dialog import Dialog

TEXT_FIELDS = (
    ("name", "Name"), ("display_name", "Display name"), ("organization", "Organization"),
    ("login_hosts", "Login hosts (space separated; a Host of ~/.ssh/config works too)"), ("port", "SSH port (empty: ~/.ssh/config's, else 22)"),
    ("partition", "Partition or queue"), ("cores", "Cores per node (empty: not known)"), ("memory_mb", "Memory per node (MB)"),
    ("disk_mb", "Disk per node (MB)"),
    ("native_os", "OS, e.g. rocky:9"), ("features", "Features (space separated)"), ("scratch_dir", "Scratch dir"),
    ("description", "Description"),
)  # fmt: skip

CARRIED = ("batch_options", "docs_url", "mfa", "retired", "poll_interval", "max_channels")
"""Fields the form has no input for: an edited resource keeps them."""


def blank(value: int | None) -> str:
    return "" if value is None else str(value)


class ResourceFormScreen(Dialog[str | None]):
    """Dismissed with the saved resource's name, or None."""

    BINDINGS = [Binding("ctrl+s", "save", "Save")]

    def __init__(self, resource: Resource | None = None) -> None:
        super().__init__()
        self.resource = resource

    def compose(self) -> ComposeResult:
        r = self.resource
        values = {
            "name": r.name, "display_name": r.display_name, "organization": r.organization, "login_hosts": " ".join(r.login_hosts),
            "port": blank(r.port), "partition": r.partition or "", "cores": blank(r.node.cores), "memory_mb": blank(r.node.memory_mb),
            "disk_mb": blank(r.node.disk_mb), "native_os": r.native_os, "features": " ".join(r.features), "scratch_dir": r.scratch_dir or "",
            "description": r.description,
        } if r else {}  # fmt: skip
        with VerticalScroll(classes="dialog form"):
            yield Static(f"{'Edit' if r else 'Add'} a resource   (ctrl+s save, esc cancel)", classes="question")
            yield Static("", id="problems", classes="problem", markup=False)
            for field, label in TEXT_FIELDS:
                yield Label(label)
                yield Input(values.get(field, ""), id=field)
            yield Label("Batch system")
            yield Select([(kind.value, kind.value) for kind in BatchKind], value=(r.batch.value if r else "slurm"), allow_blank=False, id="batch")
            yield Checkbox("Compute nodes see the login node's files", r.shared_filesystem if r else True, id="shared_filesystem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save() if event.button.id == "save" else self.action_cancel()

    def action_save(self) -> None:
        """Checked by the Resource model itself, as resources.toml is: one line per problem."""
        number = {field: self.value(field) or None for field in ("port", "cores", "memory_mb", "disk_mb")}
        fields = {
            "name": self.value("name"), "display_name": self.value("display_name"), "organization": self.value("organization"),
            "login_hosts": self.value("login_hosts").split(), "port": number["port"], "batch": self.query_one("#batch", Select).value,
            "partition": self.value("partition") or None,
            "node": {"cores": number["cores"], "memory_mb": number["memory_mb"], "disk_mb": number["disk_mb"]},
            "native_os": self.value("native_os") or "unknown", "features": self.value("features").split(),
            "scratch_dir": self.value("scratch_dir") or None, "description": self.value("description"),
            "shared_filesystem": self.query_one("#shared_filesystem", Checkbox).value,
            **({field: getattr(self.resource, field) for field in CARRIED} if self.resource else {}),
        }  # fmt: skip
        try:
            resource = checked(Resource, fields, "resource")
            self.app.engine.save_resource(resource)
        except VC3Error as exc:
            problems = self.query_one("#problems", Static)
            problems.update("\n".join(exc.problems or [str(exc)]))
            problems.scroll_visible()
            return
        self.dismiss(resource.name)

"""Creating an allocation in the original service's four steps: log into the resource, the key,
install it (paste a line on the site, or one password + code login from here), validate (the
staged report, live). An existing allocation opens at the step it needs; one a project imported
("needs your login") keeps its resource and account and takes the user's own login and key."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Header, Input, Label, Select, Static

from vc3tui.engine import LOCAL, Allocation, AllocationState, BatchKind, Resource, VC3Error, checked
from vc3tui.widgets.errors import ShowsEngineErrors, engine_work
from vc3tui.widgets.footer import KeyFooter
from vc3tui.widgets.validation_report import ValidationReport

STEPS = ("login", "key", "install", "validate")
TITLES = ("Log into the resource", "The key", "Install it", "Validate")


class AllocationWizardScreen(ShowsEngineErrors, Screen[str | None]):
    """Dismissed with the allocation's name once it exists (whatever its state), or None."""

    TITLE = "New allocation"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        Binding("c", "copy", "Copy the paste line", show=False),
    ]

    def __init__(self, allocation: Allocation | None = None, *, step: str = "login") -> None:
        super().__init__()
        self.allocation = allocation
        self.claiming = allocation is not None and allocation.state is AllocationState.NEEDS_LOGIN and not allocation.key_path
        self.start = "login" if self.claiming else step

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="steps")
        with ContentSwitcher(initial=self.start):
            with VerticalScroll(id="login"):
                yield Static("Which site, and who are you there? vc3tui logs in as you, with a key it makes for this allocation.", classes="hint")
                yield Label("Resource")
                yield Select(self._resources(), prompt="pick a resource", id="resource")
                yield Label("Or a Host of your ~/.ssh/config (its HostName, Port, User, ProxyJump and key are used)")
                yield Select([(host, host) for host in self.app.engine.access.ssh_hosts()], prompt="none", id="ssh-host")
                yield Label("Its batch system", id="ssh-batch-label")
                yield Select([(kind.value, kind.value) for kind in BatchKind if kind is not BatchKind.FORK], value="slurm", allow_blank=False, id="ssh-batch")
                yield Label("Login name on the site (empty: the same as here)")
                yield Input(id="login-name")
                yield Label("Allocation name")
                yield Input(placeholder="the resource's name", id="name")
                yield Label("Account or project to charge (optional)")
                yield Input(id="account")
            with VerticalScroll(id="key"):
                yield Static("vc3tui makes an ed25519 key pair for this allocation (private half 0600 in your data dir, never uploaded), or uses one you have.", classes="hint")
                yield Label("An existing private key (empty: make a new one)")
                yield Input(placeholder="~/.ssh/id_ed25519", id="key-path")
                yield Label("Passphrase for a new key (optional; asked once per session)")
                yield Input(password=True, id="passphrase")
                yield Static("", id="key-made", markup=False)
            with VerticalScroll(id="install"):
                yield Static("Put the public key on the site: paste this line into a shell there (c copies it), or log in once from here with your password (and code) and vc3tui adds it.", classes="hint")
                yield Static("", id="paste-line", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Copy the line", id="copy")
                    yield Button("Log in and install", id="install-key", variant="primary")
                yield Static("", id="install-status", markup=False)
            with VerticalScroll(id="validate"):
                yield Static("Every stage of getting a pilot onto the site, checked in order; the first failure stops with its fix.", classes="hint")
                yield ValidationReport()
        yield Static("", id="problem", classes="problem", markup=False)
        with Horizontal(classes="buttons", id="nav"):
            yield Button("Back", id="back")
            yield Button("Validate again", id="revalidate")
            yield Button("Next", id="next", variant="primary")
        yield KeyFooter()

    def _resources(self) -> list[tuple[str, str]]:
        """Current sites (a retired one only when it is this allocation's own)."""
        own = self.allocation.resource if self.allocation else None
        return [
            (" · ".join(filter(None, (r.name, r.display_name, r.batch.value))), r.name)
            for r in self.app.engine.catalog.sorted(retired=True) if r.name != LOCAL and (r.retired is None or r.name == own)
        ]  # fmt: skip

    def on_mount(self) -> None:
        allocation = self.allocation
        if allocation is not None:
            self.title = f"Allocation {allocation.name}"
            self.query_one("#resource", Select).value = allocation.resource
            self.query_one("#name", Input).value = allocation.name
            self.query_one("#account", Input).value = allocation.account or ""
            self.query_one("#login-name", Input).value = allocation.login or ""
            for field in ("#resource", "#name"):
                self.query_one(field).disabled = True
            if allocation.key_path:
                self._key_made(allocation)
        for widget in ("#ssh-batch-label", "#ssh-batch"):
            self.query_one(widget).display = False
        self.show_step(self.start)

    # moving between steps

    @property
    def step(self) -> str:
        return self.query_one(ContentSwitcher).current or "login"

    def show_step(self, step: str) -> None:
        self.query_one(ContentSwitcher).current = step
        self.query_one("#steps", Static).update(
            "   ".join(f"[b reverse] {n} {t} [/]" if s == step else f"[dim]{n} {t}[/]" for n, (s, t) in enumerate(zip(STEPS, TITLES), 1))
        )
        self.query_one("#back", Button).disabled = step == STEPS[0]
        self.query_one("#next", Button).label = "Done" if step == "validate" else "Next"
        self.query_one("#revalidate", Button).display = step == "validate"
        self.problem("")
        focus = {"login": "#resource" if self.allocation is None else "#login-name", "key": "#key-path", "install": "#install-key", "validate": "#next"}[step]
        self.query_one(focus).focus()
        if step == "validate":
            self.validate()

    def problem(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"next": self.action_next, "back": self.action_back, "copy": self.action_copy, "install-key": self.install, "revalidate": self.validate}
        actions[event.button.id]()

    def action_back(self) -> None:
        if not self.query_one("#back", Button).disabled:
            self.show_step(STEPS[STEPS.index(self.step) - 1])

    def action_close(self) -> None:
        self.dismiss(self.allocation.name if self.allocation else None)

    @on(Select.Changed, "#ssh-host")
    def ssh_host_picked(self, event: Select.Changed) -> None:
        """A config Host fills the login and key it names, and the resource that logs in there
        (one is added to resources.toml at Next when none does yet)."""
        new = not event.select.is_blank() and self._resource_for(str(event.value)) is None
        for widget in ("#ssh-batch-label", "#ssh-batch"):
            self.query_one(widget).display = new
        if event.select.is_blank():
            return
        host = str(event.value)
        found = self._resource_for(host)
        if found is not None:
            self.query_one("#resource", Select).value = found
        way = self.app.engine.access.ssh_host(host)
        self.query_one("#login-name", Input).value = way.user or ""
        self.query_one("#key-path", Input).value = next((f for f in way.identity_files if Path(f).is_file()), "")
        if not self.query_one("#name", Input).value:
            self.query_one("#name", Input).value = host

    def _resource_for(self, host: str) -> str | None:
        return next((r.name for r in self.app.engine.catalog.sorted() if r.login_hosts[:1] == [host]), None)

    def _add_ssh_resource(self) -> bool:
        """The resource for a config Host that none logs in to yet: saved in resources.toml."""
        host = str(self.query_one("#ssh-host", Select).value)
        try:
            resource = checked(Resource, {"name": host, "login_hosts": [host], "batch": self.query_one("#ssh-batch", Select).value}, "resource")
            self.app.engine.save_resource(resource)
        except VC3Error as exc:
            self.problem("\n".join(exc.problems or [str(exc)]))
            return False
        resources = self.query_one("#resource", Select)
        resources.set_options(self._resources())
        resources.value = resource.name
        return True

    @engine_work(exclusive=True, group="wizard")
    async def action_next(self) -> None:
        step = self.step
        if step == "login":
            ssh_host = self.query_one("#ssh-host", Select)
            if not ssh_host.is_blank() and self._resource_for(str(ssh_host.value)) is None and not self._add_ssh_resource():
                return
            if self.query_one("#resource", Select).is_blank():
                self.problem("pick a resource first (the Resources view adds one that is not listed)")
                return
            self.show_step("key")
        elif step == "key":
            if await self._make_key():
                self.show_step("install")
        elif step == "install":
            self.show_step("validate")
        else:
            self.action_close()

    # the steps' work

    async def _make_key(self) -> bool:
        """Create the allocation (or give an imported one the user's login) with its key; once made,
        going back and forward again keeps it."""
        if self.allocation is not None and self.allocation.key_path:
            return True
        resource = str(self.query_one("#resource", Select).value)
        name = self.query_one("#name", Input).value.strip() or resource
        key_text = self.query_one("#key-path", Input).value.strip()
        try:
            allocation, _ = await self.app.engine.access.create(
                name, resource, self.query_one("#login-name", Input).value.strip() or None,
                key_path=Path(key_text).expanduser() if key_text else None,
                account=self.query_one("#account", Input).value.strip() or None,
                passphrase=self.query_one("#passphrase", Input).value or None,
            )  # fmt: skip
        except VC3Error as exc:
            self.problem("\n".join(exc.problems or [str(exc)]))
            return False
        self.allocation = allocation
        self._key_made(allocation)
        return True

    def _key_made(self, allocation: Allocation) -> None:
        try:
            pair = self.app.engine.access.key(allocation)
        except VC3Error as exc:  # the key file moved or its mode changed: say so on the page
            self.problem(str(exc))
            return
        self.query_one("#key-made", Static).update(f"key {pair.private}\n{pair.fingerprint}")
        self.query_one("#paste-line", Static).update(pair.paste_line)
        for field in ("#key-path", "#passphrase", "#login-name", "#account", "#resource", "#ssh-host", "#name"):
            self.query_one(field).disabled = True

    def action_copy(self) -> None:
        if self.allocation is not None and self.allocation.key_path:
            self.app.copy_to_clipboard(self.app.engine.access.key(self.allocation).paste_line)
            self.query_one("#install-status", Static).update("copied: paste it into a shell on the site, then Next")

    @engine_work(exclusive=True, group="wizard")
    async def install(self) -> None:
        status = self.query_one("#install-status", Static)
        status.update("logging in ... answer the site's questions")
        try:
            landed = await self.app.engine.access.install_key(self.allocation)
        except VC3Error as exc:
            status.update(f"not installed: {exc}")
            return
        status.update(f"installed on {landed}; Next validates it")
        self.query_one("#next", Button).focus()

    @engine_work(exclusive=True, group="wizard")
    async def validate(self) -> None:
        report = self.query_one(ValidationReport)
        report.clear(f"validating {self.allocation.name} ...")
        self.query_one("#revalidate", Button).disabled = True
        try:
            allocation = await self.app.engine.access.validate(self.allocation, on_stage=report.add)
        except VC3Error as exc:
            report.clear(f"could not validate: {exc}")
        else:
            self.allocation = allocation
            report.show(allocation)
        finally:
            self.query_one("#revalidate", Button).disabled = False


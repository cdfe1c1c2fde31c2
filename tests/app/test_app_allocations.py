"""The allocations view and its four-step wizard, driven as a person would against the real
test-bed sshd on its password + one-time-code port: the host-key, password and code dialogs are
answered, and the wizard ends with a ready allocation."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Select, Static

from tests.testbed.sshd import PASSWORD, USER, free_port
from tests.tui import SIZES, pressed, running_app, snapshot_app
from tests.waiting import wait_until_async
from vc3tui.engine.catalog import save_user_resource
from vc3tui.engine.models import Allocation, BatchKind, Resource
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import QuestionKind
from vc3tui.engine.states import AllocationState
from vc3tui.engine.store import Store
from vc3tui.screens.allocation_wizard import AllocationWizardScreen
from vc3tui.screens.allocations import AllocationsScreen
from vc3tui.screens.question import QuestionScreen
from vc3tui.widgets.validation_report import ValidationReport

pytestmark = pytest.mark.timeout(180)


async def opened(pilot) -> AllocationsScreen:
    return await pressed(pilot, "colon", *"allocations", "enter", opens=AllocationsScreen)


async def answer(pilot, kind: QuestionKind, *keys: str) -> None:
    """Wait for the engine's question of this kind as a dialog, then answer it with keys."""
    await wait_until_async(lambda: isinstance(pilot.app.screen, QuestionScreen) and pilot.app.screen.question.kind is kind, 30, f"the {kind} dialog")
    await pilot.press(*keys)
    await pilot.pause()


async def typed(pilot, field: str, text: str) -> None:
    pilot.app.screen.query_one(field, Input).focus()
    await pilot.press(*text)


async def test_the_wizard_creates_installs_and_validates_on_a_password_and_code_site(ssh_site, dirs: Dirs) -> None:
    save_user_resource(dirs.user_resources, Resource(name="mfalab", login_hosts=["127.0.0.1"], port=ssh_site.mfa_port, batch=BatchKind.FORK))
    async with running_app(dirs, (120, 36)) as pilot:
        await opened(pilot)
        wizard = await pressed(pilot, "n", opens=AllocationWizardScreen)
        await pilot.press("ctrl+n")
        assert "pick a resource first" in str(wizard.query_one("#problem", Static).render())
        wizard.query_one("#resource", Select).value = "mfalab"
        await typed(pilot, "#login-name", USER)
        await typed(pilot, "#name", "mfa1")
        await pilot.press("ctrl+n", "ctrl+n")
        await wait_until_async(lambda: wizard.step == "install", 10, "the install step")
        store = pilot.app.engine.store.store
        created = store.allocation("mfa1")
        assert created.state is AllocationState.NEW and created.login == USER
        assert "vc3tui allocation mfa1" in str(wizard.query_one("#paste-line", Static).render())

        await pilot.press("enter")  # "Log in and install" has the focus
        await answer(pilot, QuestionKind.HOST_KEY, "tab", "enter")
        await answer(pilot, QuestionKind.PASSWORD, *PASSWORD, "enter")
        await answer(pilot, QuestionKind.OTP, *ssh_site.totp(), "enter")
        status = wizard.query_one("#install-status", Static)
        await wait_until_async(lambda: "installed on" in str(status.render()), 30, "the key installed")
        assert "vc3tui allocation mfa1" in (ssh_site.home / ".ssh" / "authorized_keys").read_text()

        await pilot.press("ctrl+n")
        await wait_until_async(lambda: store.allocation("mfa1").state is AllocationState.READY, 60, "a ready allocation")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, QuestionScreen), "the install's login was kept: no second code"
        table = wizard.query_one(ValidationReport).query_one(DataTable)
        assert table.row_count == 10 and str(table.get_row_at(3)[0]) == "authenticate"
        assert "mfa1 is ready" in str(wizard.query_one("#verdict", Static).render())

        view = await pressed(pilot, "ctrl+n", opens=AllocationsScreen)  # Done
        await wait_until_async(lambda: view.query_one(DataTable).row_count == 1, 10, "the allocation listed")
        assert [str(c) for c in view.query_one(DataTable).get_row_at(0)][:5] == ["mfa1", "mfalab", USER, "-", "ready"]


async def test_an_imported_allocation_takes_the_users_own_login(dirs: Dirs) -> None:
    save_user_resource(dirs.user_resources, Resource(name="lab", login_hosts=["127.0.0.1"], port=22, batch=BatchKind.SLURM))
    store = Store(dirs.database)
    store.put_allocation(Allocation(name="shared", resource="lab", owner="Amir", account="phy123", state=AllocationState.NEEDS_LOGIN, reason="imported from project p"))
    store.close()
    async with running_app(dirs, (120, 36)) as pilot:
        view = await opened(pilot)
        await wait_until_async(lambda: view.query_one(DataTable).row_count == 1, 10, "the imported allocation")
        assert "needs your login" in [str(c) for c in view.query_one(DataTable).get_row_at(0)]
        wizard = await pressed(pilot, "enter", opens=AllocationWizardScreen)
        assert wizard.step == "login"
        assert wizard.query_one("#resource", Select).disabled and wizard.query_one("#account", Input).value == "phy123"
        await typed(pilot, "#login-name", "ye")
        await pilot.press("ctrl+n", "ctrl+n")
        await wait_until_async(lambda: wizard.step == "install", 10, "the install step")
        claimed = pilot.app.engine.store.store.allocation("shared")
        assert (claimed.login, claimed.owner, claimed.account, claimed.state) == ("ye", "Amir", "phy123", AllocationState.NEW)
        assert claimed.key_path and claimed.key_path.endswith("shared_ed25519")


PUBLIC_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINYe5bRlEER8U/HDwF9wqPr0L2+O+tiedYSvQtv650aL vc3tui allocation cori for cori.nersc.gov"


def fixture_allocations(dirs: Dirs) -> None:
    """cori (ready, its key fixed so the paste line does not vary), midway (failed validation),
    osg (imported from a project, waiting for the user's login)."""
    private = dirs.data / "keys" / "cori_ed25519"
    private.parent.mkdir(parents=True, exist_ok=True)
    private.write_text("fixed for snapshots\n")
    private.chmod(0o600)
    private.with_name("cori_ed25519.pub").write_text(PUBLIC_LINE + "\n")
    store = Store(dirs.database)
    store.put_allocation(Allocation(name="cori", resource="cori", login="amir", account="m1234", key_path=str(private), state=AllocationState.READY, reason="validated 2025-11-25 10:00"))
    store.put_allocation(Allocation(name="midway", resource="midway", login="amir", key_path=str(private), state=AllocationState.VALIDATION_FAILURE, reason="batch commands: sbatch not found on PATH"))
    store.put_allocation(Allocation(name="osg", resource="osg-connect", owner="Ye", account="OSG-Staff", state=AllocationState.NEEDS_LOGIN, reason="imported from project cms"))
    store.close()


def view(*keys: str):
    async def run_before(pilot) -> None:
        await pilot.press("colon", *"allocations", "enter")
        await wait_until_async(lambda: pilot.app.screen.query(DataTable) and pilot.app.screen.query_one(DataTable).row_count == 3, 10, "the allocations")
        await pilot.press(*keys)
        await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("keys", [pytest.param((), id="view"), pytest.param(("n",), id="wizard-login"), pytest.param(("i",), id="wizard-install")])
def test_allocations_snapshots(dirs: Dirs, snap_compare, size, keys) -> None:
    fixture_allocations(dirs)
    with snapshot_app(dirs) as app:
        assert snap_compare(app, terminal_size=size, run_before=view(*keys))


async def test_validate_again_shows_the_failing_stage_and_delete_asks_first(dirs: Dirs) -> None:
    fixture_allocations(dirs)
    save_user_resource(dirs.user_resources, Resource(name="midway", login_hosts=["127.0.0.1"], port=free_port(), batch=BatchKind.SLURM))
    async with running_app(dirs, (120, 36)) as pilot:
        view = await opened(pilot)
        await wait_until_async(lambda: view.query_one(DataTable).row_count == 3, 10, "the allocations")
        view.query_one(DataTable).move_cursor(row=view.query_one(DataTable).get_row_index("midway"))
        await pilot.press("v")
        store = pilot.app.engine.store.store
        await wait_until_async(lambda: store.allocation("midway").report, 30, "a new report")
        wizard = pilot.app.screen
        await pilot.pause()
        table = wizard.query_one(ValidationReport).query_one(DataTable)
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == ["ok", "FAIL"]
        verdict = str(wizard.query_one("#verdict", Static).render())
        assert "midway is validation_failure: TCP connect" in verdict and "fix: check the port" in verdict
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("enter")  # the focus starts on Cancel
        await pilot.pause()
        assert store.allocation("midway") is not None
        await pilot.press("d", "tab", "enter")
        await wait_until_async(lambda: store.allocation("midway") is None, 5, "the allocation deleted")
        await wait_until_async(lambda: view.query_one(DataTable).row_count == 2, 5, "the row gone")

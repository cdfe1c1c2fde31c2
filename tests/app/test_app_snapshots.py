"""Snapshots of every view and dialog at 80x24 and 160x48, on fixed store data with fixed event
times in UTC (pytest-textual-snapshot; `--snapshot-update` after a deliberate change)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.tui import SIZES, fixture_clusters, shown, snapshot_app
from vc3tui.app import VC3App
from vc3tui.engine.engine import Engine
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import Question, QuestionKind
from vc3tui.screens.question import QuestionScreen
from vc3tui.screens.quit import QuitScreen

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def app(dirs: Dirs):
    fixture_clusters(dirs)
    pilot_dir = dirs.data / "clusters" / "aaaaaaaa" / "pilots"
    engine = Engine(dirs)
    tag = next(p.tag for p in asyncio.run(engine.pilots("aaaaaaaa")) if p.index == 3)
    log = pilot_dir / tag / "build.log"
    log.parent.mkdir(parents=True)
    log.write_text("Plan:    python => [3.99, ]\nvc3-builder: error: [bold]could not add python:3.99[/]\n")
    application = VC3App(engine, watch_store=False)
    yield application
    asyncio.run(engine.close())


async def opened(pilot) -> None:
    await shown(pilot)
    for _ in range(5):
        if pilot.app.screen.selected_cluster().name == "physics":
            break
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    await shown(pilot)


def then(*keys: str, open_cluster: bool = False):
    async def run_before(pilot) -> None:
        if open_cluster:
            await opened(pilot)
        else:
            await shown(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.2)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_clusters_view(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then())


@pytest.mark.parametrize("size", SIZES)
def test_clusters_view_empty(dirs: Dirs, snap_compare, size) -> None:
    with snapshot_app(dirs) as app:
        assert snap_compare(app, terminal_size=size, run_before=then())


@pytest.mark.parametrize("size", SIZES)
def test_clusters_view_filtered(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then("slash", *"phys"))


@pytest.mark.parametrize("size", SIZES)
def test_cluster_view(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then(open_cluster=True))


@pytest.mark.parametrize("size", SIZES)
def test_keys_dialog(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_jump_prompt(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then("colon", "c"))


@pytest.mark.parametrize("size", SIZES)
def test_count_dialog(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then("equals_sign", open_cluster=True))


@pytest.mark.parametrize("size", SIZES)
def test_terminate_confirmation(app, snap_compare, size) -> None:
    assert snap_compare(app, terminal_size=size, run_before=then("ctrl+d", open_cluster=True))


@pytest.mark.parametrize("size", SIZES)
def test_pilot_log(app, snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await opened(pilot)
        await pilot.press("down", "down", "down", "l")
        for _ in range(100):
            if "log of" in str(pilot.app.screen.query_one("#title").render()) and "fetching" not in str(pilot.app.screen.query_one("#title").render()):
                break
            await asyncio.sleep(0.05)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "question",
    [
        pytest.param(Question(1, QuestionKind.HOST_KEY, "Trust this host key?", detail="ssh-ed25519 SHA256:Qm9ndXNrZXlmaW5nZXJwcmludA", about="login.example.edu:22"), id="host-key"),
        pytest.param(Question(2, QuestionKind.PASSWORD, "Password:", about="alice@login.example.edu", secret=True), id="password"),
        pytest.param(Question(3, QuestionKind.OTP, "Verification code:", about="alice@login.example.edu", secret=True), id="otp"),
    ],
)
def test_question_dialogs(app, snap_compare, size, question: Question) -> None:
    async def run_before(pilot) -> None:
        await shown(pilot)
        pilot.app.push_screen(QuestionScreen(question))
        await pilot.pause()
        await pilot.press(*"secret")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quit_dialog(app, snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await shown(pilot)
        pilot.app.push_screen(QuitScreen(["physics"]))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_launch_form(app, snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await shown(pilot)
        await pilot.press("n")
        for _ in range(200):
            if pilot.app.screen.__class__.__name__ == "LaunchScreen":
                break
            await asyncio.sleep(0.02)
        await pilot.pause()
        await pilot.press(*"bad name", "ctrl+l")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)

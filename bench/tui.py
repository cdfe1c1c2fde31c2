"""The full-screen app's two promises: a cold start to the first frame at most twice a bare
Textual app's, and a refresh of a 10,000-pilot cluster view under 100 ms. Baselines measured in the same run: a bare Textual app
with one DataTable (cold start), and filling a DataTable with 10,000 rows once (refresh).

Run: .venv/bin/python bench/tui.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import paired_ratio, record  # noqa: E402

REPEATS = 9
PILOTS = 10_000

FIRST_FRAME = """
import sys, time
started = float(sys.argv[1])
if sys.argv[2] == "vc3tui":
    from vc3tui.cli import tui_app  # as `vc3tui` makes it
    app = tui_app(watch_store=False)
else:
    from textual.app import App
    from textual.widgets import DataTable
    class Bare(App):
        def compose(self):
            yield DataTable()
    app = Bare()

async def main():
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        while getattr(screen, "coalescer", None) is not None and screen.coalescer.runs < 1:
            await pilot.pause(0.005)
        print(time.time() - started, flush=True)

import asyncio
asyncio.run(main())
"""


def first_frame(kind: str, env: dict[str, str]) -> float:
    """Seconds from starting the interpreter to the first frame with the view's data shown."""
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(time.time()), kind], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


async def refreshes(home: Path) -> tuple[list[float], list[float], list[float]]:
    """(unchanged refreshes, refreshes with 100 pilots changed, one-shot DataTable fills) in seconds."""
    from textual.app import App
    from textual.widgets import DataTable

    from tests.tui import fixture_clusters
    from vc3tui.app import VC3App
    from vc3tui.engine.engine import Engine
    from vc3tui.engine.paths import Dirs
    from vc3tui.engine.states import PilotState
    from vc3tui.engine.store import CycleWrites, Store

    dirs = Dirs.from_environment().ensure()
    fixture_clusters(dirs)
    store = Store(dirs.database)
    store.add_pilot_intents("aaaaaaaa", "local", PILOTS)
    engine = Engine(dirs)
    app = VC3App(engine, watch_store=False)
    unchanged, changed = [], []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        from tests.tui import shown
        from vc3tui.screens.cluster import ClusterScreen

        await shown(pilot)
        app.push_screen(ClusterScreen("aaaaaaaa"))
        await pilot.pause()
        await shown(pilot)
        screen = app.screen
        for n in range(REPEATS):
            started = time.perf_counter()
            await screen.reload()
            await pilot.pause()
            unchanged.append(time.perf_counter() - started)
            pilots = [p for p in store.pilots("aaaaaaaa") if p.state is PilotState.INTENT][:100]
            for p in pilots:
                p.move(PilotState.QUEUED)
            store.commit_cycle(CycleWrites(pilots=pilots))
            started = time.perf_counter()
            await screen.reload()
            await pilot.pause()
            changed.append(time.perf_counter() - started)
    store.close()
    await engine.close()

    class Bare(App):
        def compose(self):
            yield DataTable()

    fills = []
    rows = [(str(i), "local", "-", "queued", "<1m", "") for i in range(PILOTS)]
    bare = Bare()
    async with bare.run_test(size=(160, 48)) as pilot:
        table = bare.query_one(DataTable)
        table.add_columns("Pilot", "Allocation", "Job", "Stage", "Age", "Reason")
        for _ in range(REPEATS):
            table.clear()
            started = time.perf_counter()
            table.add_rows(rows)
            await pilot.pause()
            fills.append(time.perf_counter() - started)
    return unchanged, changed, fills


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-tui-") as tmp:
        env = {**os.environ, "VC3TUI_HOME": tmp}
        os.environ["VC3TUI_HOME"] = str(Path(tmp) / "refresh")
        # as installed (pip compiles a wheel's modules; textual's are), whatever PYTHONDONTWRITEBYTECODE says
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "vc3tui")], check=True, stdout=subprocess.DEVNULL)
        first_frame("vc3tui", env)
        ours, bare = [], []
        for _ in range(REPEATS):  # side by side, so a slow moment of the machine hits both
            ours.append(first_frame("vc3tui", env))
            bare.append(first_frame("bare", env))
        unchanged, changed, fills = asyncio.run(refreshes(Path(tmp)))
    print(f"the app ({REPEATS} runs each)")
    ms = lambda samples: [t * 1000 for t in samples]  # noqa: E731
    record("TUI cold start to first frame", ms(ours), "bare Textual app with a DataTable", ms(bare), unit="ms", target="ratio <= 2.0",
           met=paired_ratio(ours, bare) <= 2.0, paired=True)  # fmt: skip
    for what, samples in ((f"TUI refresh, {PILOTS:,} pilots, none changed", unchanged), (f"TUI refresh, {PILOTS:,} pilots, 100 changed", changed)):
        record(what, ms(samples), f"filling a DataTable with {PILOTS:,} rows once", ms(fills), unit="ms", target="< 100 ms",
               met=statistics.median(samples) < 0.1)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`vc3tui --run blueprint.toml`: the whole life of a cluster without the full-screen app.

Validate, start the head, submit the pilots, wait until the requested workers joined (or, when the
entry point is the manager itself, until the head runs), run the
entry point on the head, tear down peacefully, exit with the entry point's status. Ctrl-C or
SIGTERM tears down too (a second Ctrl-C stops waiting for workers to drain). A cluster of the
same name that is still live is resumed, never launched twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from vc3tui.cli.printing import terminal_control
from vc3tui.engine import Blueprint, ClusterRow, ClusterState, Engine, Event, VC3Error, printable

TEARDOWN_TIMEOUT = 300.0


class Reporter:
    """One line per event with elapsed time and counts; a live status line on a terminal."""

    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.live = sys.stdout.isatty() and not json_lines
        self.started = time.monotonic()
        self.paused = False
        self._status = ""

    def event(self, name: str, kind: str, message: str, row: ClusterRow | None) -> None:
        elapsed = time.monotonic() - self.started
        counts = row.counts if row else None
        if self.json_lines:
            record = {"t": round(elapsed, 2), "cluster": name, "kind": kind, "message": message}
            if counts:
                record["counts"] = counts.model_dump()
            print(json.dumps(record), flush=True)
            return
        suffix = f"  [{_counts(row)}]" if row else ""
        self._clear()
        print(f"{elapsed:7.1f}s  {name}: {message}{suffix}", flush=True)
        self._draw()

    def status(self, row: ClusterRow) -> None:
        if not self.live:
            return
        cluster = row.cluster
        conditions = "; ".join(c.reason for c in cluster.conditions if not c.allocation) or f"{cluster.state}: {cluster.reason}"
        self._status = f"{time.monotonic() - self.started:7.1f}s  {cluster.name}: {conditions}  [{_counts(row)}]"
        self._draw()

    def pause(self) -> None:
        self._clear()
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def _clear(self) -> None:
        if self.live and self._status:
            terminal_control("\r\033[K")
            sys.stdout.flush()

    def _draw(self) -> None:
        if self.live and self._status and not self.paused:
            terminal_control("\r\033[K")
            sys.stdout.write(printable(self._status)[:200])
            sys.stdout.flush()


def _counts(row: ClusterRow) -> str:
    """The totals, and each site's running and queued (and unknown) pilots when the cluster spans several."""
    c = row.counts
    sites = c.sites if len(c.sites) > 1 else {}
    each = "".join(f"; {name}: {s.running} running {s.queued} queued" + (f" ({s.unknown} unknown)" if s.unknown else "") for name, s in sites.items())
    return f"requested {c.requested} running {c.running} queued {c.queued} error {c.error} joined {c.joined}{each}"


async def run_file(engine: Engine, args: argparse.Namespace) -> int:
    """`vc3tui --run BLUEPRINT`: the entry point runs in the blueprint file's directory."""
    blueprint = await engine.load_blueprint(args.run)
    return await run(engine, blueprint, args.run.parent, json_lines=args.json, verbose=args.verbose)


async def run(engine: Engine, blueprint: Blueprint, cwd: Path, *, json_lines: bool, verbose: bool = False) -> int:
    reporter = Reporter(json_lines)
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(number: int) -> None:
        received.append(number)
        stop.set()

    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal, number)
    cluster_id = None
    events: asyncio.Queue[Event | None] = engine.subscribe()
    reporting: asyncio.Task[None] | None = None
    watchers: list[asyncio.Task[None]] = []
    try:
        existing = await engine.live_cluster(blueprint.name)
        if existing:
            if not await engine.manage(existing.id):
                raise VC3Error(f"cluster {existing.name!r} is managed by another running vc3tui; resize it from there")
            cluster_id = existing.id
            reporter.event(existing.name, "resume", f"resuming the live cluster ({existing.state})", await engine.status(existing.id))
        else:
            cluster_id = (await engine.launch(blueprint)).id
        reporting = asyncio.create_task(_report_events(engine, reporter, cluster_id, events))
        watchers.append(asyncio.create_task(_report_status(engine, reporter, cluster_id)))
        code = await _until_stopped(stop, _run(engine, reporter, cluster_id, blueprint.entry, cwd, verbose))
        if code is None:
            code = 128 + received[0]
        return code
    finally:
        try:
            if cluster_id is not None:
                await _teardown(engine, cluster_id, stop, received)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            if reporting is not None:
                events.put_nowait(None)  # report every event of the teardown, then stop
                await reporting
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(number)


async def _run(engine: Engine, reporter: Reporter, cluster_id: str, entry: list[str] | None, cwd: Path, verbose: bool) -> int:
    row = await engine.wait_for(cluster_id, lambda r: _ended(r) or r.cluster.state is ClusterState.RUNNING)
    # Work Queue: workers join only the user's own manager, so the head running is "ready"
    manager_first = engine.entry_is_manager(row.cluster)
    if not manager_first:
        row = await engine.wait_for(cluster_id, lambda r: _ended(r) or r.counts.joined >= r.counts.requested)
    if row.cluster.state is not ClusterState.RUNNING:
        # with no entry point, a terminate you asked for is how the run is meant to end
        return 0 if not entry and row.cluster.terminate_requested else 1
    if manager_first:
        reporter.event(row.cluster.name, "ready", "head ready; workers join the manager you run (the entry point, or from the head's shell)", row)
    else:
        reporter.event(row.cluster.name, "ready", f"all {row.counts.requested} workers joined", row)
    for name, url in await engine.head_links(cluster_id):
        reporter.event(row.cluster.name, "open", f"open {name}: {url}", row)
    if not entry:
        reporter.event(row.cluster.name, "ready", "no entry point: managing the cluster until Ctrl-C or `vc3tui cluster terminate`", row)
        row = await engine.wait_for(cluster_id, _ended)
        return 1 if row.cluster.state is ClusterState.FAILED else 0
    reporter.pause()
    try:
        # with --json, stdout carries only JSON lines: the entry point's output goes to stderr
        stdout = sys.stderr.fileno() if reporter.json_lines else sys.stdout.fileno()
        code = await engine.run_entry(cluster_id, entry, cwd, stdout=stdout, stderr=sys.stderr.fileno(), builder_output=verbose)
    finally:
        reporter.resume()
    reporter.event(row.cluster.name, "entry", f"entry point exited with status {code}", await engine.status(cluster_id))
    return code


def _ended(row: ClusterRow) -> bool:
    return row.cluster.state in (ClusterState.FAILED, ClusterState.TERMINATING, ClusterState.TERMINATED)


async def _until_stopped(stop: asyncio.Event, work) -> int | None:
    """The work's result, or None when a signal came first (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


async def _teardown(engine: Engine, cluster_id: str, stop: asyncio.Event, received: list[int]) -> None:
    """Terminate peacefully; a further Ctrl-C or SIGTERM turns it into an immediate cancel. The
    wait is bounded: past TEARDOWN_TIMEOUT, or when managing the cluster fails, one line says
    what is left to do."""
    seen = len(received)
    stop.clear()
    await engine.terminate(cluster_id, peaceful=True)
    await engine.manage(cluster_id)  # the factory may have stopped (a failure, a lost lease)
    waiting = asyncio.ensure_future(
        engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, TEARDOWN_TIMEOUT)
    )
    while not waiting.done():
        await asyncio.wait({waiting, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if len(received) > seen:
            seen = len(received)
            stop.clear()
            await engine.terminate(cluster_id, peaceful=False)
    try:
        waiting.result()
    except TimeoutError:
        name = (await engine.status(cluster_id)).cluster.name
        raise VC3Error(f"{name} was not torn down in {TEARDOWN_TIMEOUT:.0f} s; `vc3tui cluster show {name}` says what is left, `vc3tui cluster terminate {name} --no-peaceful` ends it") from None


async def _report_events(engine: Engine, reporter: Reporter, cluster_id: str, events: asyncio.Queue[Event | None]) -> None:
    """Print this cluster's events in order until the None that says the run is over."""
    while (event := await events.get()) is not None:
        if event.cluster_id == cluster_id:
            row = await engine.status(cluster_id)
            reporter.event(row.cluster.name, event.kind, event.message, row)


async def _report_status(engine: Engine, reporter: Reporter, cluster_id: str) -> None:
    while True:
        reporter.status(await engine.status(cluster_id))
        await asyncio.sleep(0.5)

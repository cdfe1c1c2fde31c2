"""The SQLite store: migrations, intent before action, batched cycles, leases, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.models import Allocation, Event
from vc3tui.engine.paths import filesystem_type
from vc3tui.engine.schema import MIGRATIONS, SCHEMA_VERSION
from vc3tui.engine.states import AllocationState, ClusterState, PilotState
from vc3tui.engine.store import CycleWrites, Store, StoreError
from vc3tui.engine.store_rows import database_problem

from tests import ROOT
from tests.factories import cluster


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "data" / "vc3tui.sqlite3")
    yield store
    store.close()


def test_new_store_is_wal_at_latest_schema_with_installation_id(store: Store) -> None:
    assert store.schema_version == SCHEMA_VERSION
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert len(store.installation_id) == 12
    reopened = Store(store.path)
    assert reopened.installation_id == store.installation_id
    reopened.close()


def test_data_dir_is_private(tmp_path: Path) -> None:
    Store(tmp_path / "fresh" / "db.sqlite3").close()
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o700


def test_allocations_round_trip(store: Store) -> None:
    store.put_allocation(Allocation(name="midway", resource="midway", login="amir", state=AllocationState.READY))
    assert store.allocation("midway").login == "amir"
    assert [a.name for a in store.allocations()] == ["midway"]
    assert store.delete_allocation("midway")
    assert store.allocation("midway") is None


def test_environments_and_projects_round_trip(store: Store) -> None:
    from vc3tui.engine.models import AllocationDescriptor, Environment, Member, Project

    store.put_environment(Environment(name="team", pip=["numpy"], variables={"A": "1"}))
    with pytest.raises(ValueError, match="named"):
        store.put_environment(Environment(pip=["x"]))
    assert [e.name for e in store.environments()] == ["team"]
    project = Project(
        name="physics",
        members=[Member(name="Amir", email="amir@example.edu")],
        allocations=[AllocationDescriptor(name="midway", resource="midway", owner="Amir")],
    )
    store.put_project(project)
    assert store.projects() == [project]


def test_intent_is_committed_before_anything_else(store: Store) -> None:
    store.put_cluster(cluster())
    pilots = store.add_pilot_intents("0123abcd", "local", 3)
    assert [p.index for p in pilots] == [0, 1, 2]
    assert all(p.state is PilotState.INTENT for p in pilots)
    assert len({p.tag for p in pilots}) == 3
    assert all(store.installation_id in p.tag for p in pilots)
    # a second connection (another process) sees the intents already
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT COUNT(*) FROM pilots WHERE state = 'intent'").fetchone()[0] == 3
    other.close()
    more = store.add_pilot_intents("0123abcd", "local", 2)
    assert [p.index for p in more] == [3, 4]


def test_cycle_writes_are_one_transaction(store: Store) -> None:
    c = cluster()
    store.put_cluster(c)
    pilots = store.add_pilot_intents(c.id, "local", 4)
    for pilot, state in zip(pilots, (PilotState.QUEUED, PilotState.RUNNING, PilotState.FAILED, PilotState.HELD)):
        pilot.job_id = str(pilot.index + 100)
        pilot.move(state, "from the batch system")
    c.move(ClusterState.STARTING_HEAD, "starting the scheduler")
    writes = CycleWrites(clusters=[c], pilots=pilots, events=[Event(cluster_id=c.id, kind="pilot", message="4 changed")])
    store.commit_cycle(writes)
    counts = store.counts(c.id)
    assert (counts.requested, counts.running, counts.queued, counts.error) == (2, 1, 1, 2)
    assert store.cluster(c.id).state is ClusterState.STARTING_HEAD
    assert [e.message for e in store.events(c.id)] == ["4 changed"]
    assert {p.job_id for p in store.pilots(c.id, states=[PilotState.RUNNING])} == {"101"}


def test_failed_cycle_writes_nothing(store: Store) -> None:
    c = cluster()
    store.put_cluster(c)
    (pilot,) = store.add_pilot_intents(c.id, "local", 1)
    pilot.move(PilotState.QUEUED)
    broken = Event(cluster_id=c.id, kind="x", message="y")
    object.__setattr__(broken, "kind", None)
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_cycle(CycleWrites(pilots=[pilot], events=[broken]))
    assert store.events(c.id) == []
    assert store.pilots(c.id)[0].state is PilotState.INTENT


def test_live_cluster_by_name_ignores_terminated(store: Store) -> None:
    old = cluster("aaaaaaaa")
    old.state = ClusterState.TERMINATED
    store.put_cluster(old)
    assert store.live_cluster_named("demo") is None
    store.put_cluster(cluster("bbbbbbbb"))
    assert store.live_cluster_named("demo").id == "bbbbbbbb"
    assert len(store.clusters()) == 2
    assert len(store.clusters(include_terminated=False)) == 1


def test_any_process_may_write_a_desired_size(store: Store) -> None:
    store.put_cluster(cluster())
    other = Store(store.path)
    other.update_cluster("0123abcd", requested=20, peaceful=False)
    other.close()
    assert (store.cluster("0123abcd").requested, store.cluster("0123abcd").peaceful) == (20, False)
    with pytest.raises(ValueError, match="not user intent"):
        store.update_cluster("0123abcd", state="running")


def test_rewriting_a_cluster_keeps_its_pilots(store: Store) -> None:
    c = cluster()
    store.put_cluster(c)
    store.add_pilot_intents(c.id, "local", 2)
    c.move(ClusterState.STARTING_HEAD, "starting")
    store.put_cluster(c)
    store.commit_cycle(CycleWrites(clusters=[c]))
    assert len(store.pilots(c.id)) == 2


def test_factory_writes_never_overwrite_user_intent(store: Store) -> None:
    stale = cluster()
    store.put_cluster(stale)
    store.update_cluster(stale.id, requested=7, terminate_requested=True)
    stale.move(ClusterState.STARTING_HEAD, "starting")
    store.commit_cycle(CycleWrites(clusters=[stale]))
    fresh = store.cluster(stale.id)
    assert (fresh.state, fresh.requested, fresh.terminate_requested) == (ClusterState.STARTING_HEAD, 7, True)


def test_lease_is_exclusive_until_it_expires(store: Store) -> None:
    assert store.acquire_lease("0123abcd", "laptop:1", ttl=60)
    assert store.acquire_lease("0123abcd", "laptop:1", ttl=60)
    assert not store.acquire_lease("0123abcd", "laptop:2", ttl=60)
    assert store.lease_holder("0123abcd") == "laptop:1"
    assert store.acquire_lease("other", "laptop:2", ttl=-1)
    assert store.lease_holder("other") is None
    assert store.acquire_lease("other", "laptop:3", ttl=60)
    store.release_lease("0123abcd", "laptop:1")
    assert store.acquire_lease("0123abcd", "laptop:2", ttl=60)


def test_migration_from_schema_1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO meta VALUES ('installation_id', 'feedfacecafe')")
    c = cluster()
    db.execute(
        "INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?)", (c.id, c.name, c.state, c.requested, c.model_dump_json(), 0.0)
    )
    db.execute(
        "INSERT INTO pilots (tag, cluster_id, allocation, idx, state, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("vc3-feedfacecafe-0123abcd-0", c.id, "local", 0, "running", "4242", 1.0),
    )
    db.commit()
    db.close()

    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION == 2
    assert store.installation_id == "feedfacecafe"
    (pilot,) = store.pilots(c.id)
    assert (pilot.job_id, pilot.state, pilot.stage, pilot.host) == ("4242", PilotState.RUNNING, None, None)
    store.commit_cycle(CycleWrites(events=[Event(cluster_id=c.id, kind="migrated", message="ok")]))
    assert store.events(c.id)[0].kind == "migrated"
    store.close()


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer vc3tui"):
        Store(path)


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="is not a vc3tui store or it is damaged .*; move it aside to start afresh"):
        Store(path)


def test_sqlite_failures_say_their_true_cause(store: Store) -> None:
    """A read-only file, a lock held too long: SQLite's own errors, each turned into its cause."""
    read_only = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.Error) as caught:
        read_only.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    assert "is read-only here" in str(database_problem(caught.value, store.path))
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    waiting = sqlite3.connect(store.path, timeout=0)
    with pytest.raises(sqlite3.Error) as caught:
        waiting.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    holder.execute("ROLLBACK")
    assert "another vc3tui process held it locked" in str(database_problem(caught.value, store.path))
    assert str(database_problem(caught.value, store.path)).startswith(f"{store.path}: cannot use the store: ")


MOUNTINFO = textwrap.dedent(
    """\
    22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
    40 22 0:50 / /home rw,relatime - nfs4 server:/home rw,vers=4.2
    41 40 8:2 / /home/local\\040disk rw - xfs /dev/sdb1 rw
    """
)


def test_filesystem_type_uses_the_longest_mount() -> None:
    assert filesystem_type(Path("/home/amir/.local/share"), MOUNTINFO) == "nfs4"
    assert filesystem_type(Path("/home/local disk/x"), MOUNTINFO) == "xfs"
    assert filesystem_type(Path("/var/tmp"), MOUNTINFO) == "ext4"
    assert filesystem_type(Path("/homework"), MOUNTINFO) == "ext4"


def test_network_filesystem_turns_wal_off_and_says_why(tmp_path: Path) -> None:
    store = Store(tmp_path / "nfs" / "db.sqlite3", filesystem="nfs4")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert "VC3TUI_HOME" in store.warnings[0]
    store.close()


WRITER = """
import sys, time
from vc3tui.engine.store import Store, CycleWrites
from vc3tui.engine.models import Event
from tests.factories import cluster
store = Store(__import__("pathlib").Path(sys.argv[1]))
store.put_cluster(cluster())
n = 0
while True:
    pilots = store.add_pilot_intents("0123abcd", "local", 5)
    store.commit_cycle(CycleWrites(pilots=pilots, events=[Event(cluster_id="0123abcd", kind="k", message=str(n))]))
    n += 1
    print(n, flush=True)
"""


@pytest.mark.timeout(60)
def test_store_survives_kill_minus_nine_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        committed = 0
        deadline = time.monotonic() + 30
        while committed < 50 and time.monotonic() < deadline:
            committed = int(child.stdout.readline() or committed)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert committed >= 50
    store = Store(path)
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    pilots = store.pilots("0123abcd")
    events = store.events("0123abcd", limit=100000)
    assert len(events) >= committed
    assert len(pilots) >= 5 * committed
    assert [p.index for p in pilots] == list(range(len(pilots)))
    store.close()


async def test_async_store_runs_off_the_event_loop(tmp_path: Path) -> None:
    import threading

    astore = AsyncStore(tmp_path / "db.sqlite3")
    loop_thread = threading.get_ident()
    seen = await astore.run(lambda store: threading.get_ident())
    assert seen != loop_thread
    await astore.run(Store.put_cluster, cluster())
    assert [c.name for c in await astore.run(Store.clusters)] == ["demo"]
    await astore.close()


def test_processes_opening_a_new_store_at_once_agree(tmp_path: Path) -> None:
    """The race a headless run and a CLI command hit on a fresh data dir: one migrates, the rest wait."""
    path = tmp_path / "vc3tui.sqlite3"
    opener = f"from pathlib import Path\nfrom vc3tui.engine.store import Store\nprint(Store(Path({str(path)!r})).installation_id)"
    runs = [subprocess.Popen([sys.executable, "-c", opener], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [run.communicate(timeout=60) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1, "one installation id for everyone"
    assert Store(path).schema_version == SCHEMA_VERSION


def _open_store(path: str, results) -> None:
    try:
        Store(Path(path)).close()
        results.put("ok")
    except StoreError as exc:
        results.put(str(exc))


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """A headless run and a command started together on a fresh data dir: SQLite answers "locked"
    at once to the second one setting WAL on a file being made; every opener must still get in."""
    import multiprocessing

    for round_ in range(15):
        results = multiprocessing.Queue()
        path = str(tmp_path / f"round{round_}.sqlite3")
        workers = [multiprocessing.Process(target=_open_store, args=(path, results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [results.get(timeout=5) for _ in workers] == ["ok"] * 4


def spoil(store: Store, table: str, key: str, value: str) -> None:
    """Write a row as an older version or a hand might have: valid JSON its model refuses."""
    column = "id" if table == "clusters" else "name"
    store._db.execute(f"UPDATE {table} SET data = ? WHERE {column} = ?", (value, key))


def test_a_row_this_version_cannot_read_is_named_with_its_repair_and_the_rest_still_read(store: Store) -> None:
    store.put_cluster(cluster("0123abcd", "good"))
    store.put_cluster(cluster("4567abcd", "bad"))
    store.put_allocation(Allocation(name="hpc", resource="local"))
    store.put_allocation(Allocation(name="broken", resource="local"))
    data = store._db.execute("SELECT data FROM clusters WHERE id = '4567abcd'").fetchone()[0]
    spoil(store, "clusters", "4567abcd", data.replace('"weight":1.0', '"weight":null'))
    spoil(store, "allocations", "broken", '{"name": "broken", "resource": "local", "max_pilots": 1e400}')
    assert [c.name for c in store.clusters()] == ["good"]
    assert [a.name for a in store.allocations()] == ["hpc"]
    assert any("cluster bad (4567abcd) cannot be read" in w and "`vc3tui cluster forget 4567abcd`" in w for w in store.warnings)
    assert any("allocation broken cannot be read" in w and "`vc3tui allocation delete broken`" in w for w in store.warnings)
    with pytest.raises(StoreError, match="vc3tui cluster forget 4567abcd"):
        store.cluster("4567abcd")
    with pytest.raises(StoreError, match="terminate it first"):
        store.forget_cluster("good")
    assert store.forget_cluster("bad") == "4567abcd"
    assert store.cluster("4567abcd") is None
    assert store.delete_allocation("broken")
    assert [a.name for a in store.allocations()] == ["hpc"]

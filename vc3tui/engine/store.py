"""One SQLite database holding every allocation, cluster, pilot and event.

Intent is written before action: `add_pilot_intents` commits a pilot's row and tag before anyone
submits its job, so a crash can neither lose nor duplicate a pilot. The engine calls the store
through `AsyncStore`, which keeps SQLite on one thread of its own so no call blocks the event loop.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple


from vc3tui.engine.counts import ClusterCounts, cluster_counts
from vc3tui.engine.models import USER_INTENT_FIELDS, Allocation, Cluster, Environment, Event, Pilot, Project
from vc3tui.engine.paths import NETWORK_FILESYSTEMS, filesystem_type
from vc3tui.engine.store_rows import M, StoreError, allocation_repair, cluster_repair, database_problem, parsed, readable_json
from vc3tui.engine.schema import MIGRATIONS, SCHEMA_VERSION, set_journal_mode
from vc3tui.engine.states import PilotState
from vc3tui.engine.tags import pilot_tag

_PILOT_COLUMNS = (
    "tag", "cluster_id", "allocation", "idx", "state", "stage", "job_id", "host", "reason",
    "exit_code", "created_at", "submitted_at", "started_at", "ended_at",
)  # fmt: skip


class PilotLine(NamedTuple):
    """One pilot as a table shows it."""

    tag: str
    index: int
    allocation: str
    job_id: str | None
    state: str
    stage: str | None
    reason: str
    created_at: float
    submitted_at: float | None
    started_at: float | None
    ended_at: float | None


@dataclass
class CycleWrites:
    """Everything one engine cycle changes, committed in one transaction."""

    clusters: list[Cluster] = field(default_factory=list)
    pilots: list[Pilot] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.clusters or self.pilots or self.events)


class Store:
    """Synchronous store; use it from one thread (AsyncStore does that for the engine)."""

    def __init__(self, path: Path, *, filesystem: str | None = None) -> None:
        self.path = path
        self.warnings: list[str] = []
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fs = filesystem or filesystem_type(path.parent)
        self.wal = fs not in NETWORK_FILESYSTEMS
        if not self.wal:
            self.warnings.append(
                f"{path.parent} is on a network filesystem ({fs}): SQLite WAL is off there, and two "
                "hosts sharing this store can corrupt it; set VC3TUI_HOME to a local directory"
            )
        try:
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys = ON")
            set_journal_mode(self._db, "wal" if self.wal else "delete")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
            self.installation_id = self._installation_id()
        except sqlite3.Error as exc:
            raise database_problem(exc, path) from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self, target: int = SCHEMA_VERSION) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer vc3tui (schema {current}, this one knows {SCHEMA_VERSION}); "
                "upgrade vc3tui"
            )
        for version in range(current, target):
            with self.transaction() as db:
                if self.schema_version > version:
                    continue  # another process opening the same file migrated it while we waited
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    def _installation_id(self) -> str:
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()
            if row:
                return row[0]
            value = secrets.token_hex(6)
            db.execute("INSERT INTO meta (key, value) VALUES ('installation_id', ?)", (value,))
            return value

    def _readable(self, model: type[M], data: str, what: str, repair: str) -> M | None:
        """A stored row as its model; a row this version cannot read (an older one wrote it, or a
        hand) is skipped with a warning that names it and the command that removes it."""
        try:
            return parsed(model, data, what, repair)
        except StoreError as exc:
            if str(exc) not in self.warnings:
                self.warnings.append(str(exc))
            return None

    # allocations, environments, projects: whole models as JSON, keyed by name
    # allocations, environments, projects: whole models as JSON, keyed by name

    def put_allocation(self, allocation: Allocation) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO allocations (name, data, updated_at) VALUES (?, ?, ?)",
            (allocation.name, allocation.model_dump_json(), time.time()),
        )

    def allocation(self, name: str) -> Allocation | None:
        row = self._db.execute("SELECT data FROM allocations WHERE name = ?", (name,)).fetchone()
        return parsed(Allocation, row[0], *allocation_repair(name)) if row else None

    def allocations(self) -> list[Allocation]:
        rows = self._db.execute("SELECT name, data FROM allocations ORDER BY name")
        return [a for name, data in rows if (a := self._readable(Allocation, data, *allocation_repair(name)))]

    def delete_allocation(self, name: str) -> bool:
        return self._db.execute("DELETE FROM allocations WHERE name = ?", (name,)).rowcount > 0

    def put_environment(self, environment: Environment) -> None:
        if not environment.name:
            raise ValueError("only named environments are stored")
        self._db.execute(
            "INSERT OR REPLACE INTO environments (name, data) VALUES (?, ?)",
            (environment.name, environment.model_dump_json()),
        )

    def environments(self) -> list[Environment]:
        rows = self._db.execute("SELECT name, data FROM environments ORDER BY name")
        repair = "import the project that named it again (`vc3tui project import FILE --replace`)"
        return [e for name, data in rows if (e := self._readable(Environment, data, f"environment {name}", repair))]

    def put_project(self, project: Project) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO projects (name, data) VALUES (?, ?)", (project.name, project.model_dump_json())
        )

    def projects(self) -> list[Project]:
        rows = self._db.execute("SELECT name, data FROM projects ORDER BY name")
        repair = "import its file again (`vc3tui project import FILE --replace`)"
        return [p for name, data in rows if (p := self._readable(Project, data, f"project {name}", repair))]

    # clusters

    def put_cluster(self, cluster: Cluster) -> None:
        with self.transaction() as db:
            self._write_cluster(db, cluster)

    def cluster(self, cluster_id: str) -> Cluster | None:
        row = self._db.execute("SELECT id, name, data FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
        return self._cluster(row) if row else None

    def live_cluster_named(self, name: str) -> Cluster | None:
        row = self._db.execute(
            "SELECT id, name, data FROM clusters WHERE name = ? AND state != 'terminated' ORDER BY updated_at DESC",
            (name,),
        ).fetchone()
        return self._cluster(row) if row else None

    def clusters(self, *, include_terminated: bool = True) -> list[Cluster]:
        where = "" if include_terminated else "WHERE state != 'terminated'"
        rows = self._db.execute(f"SELECT id, name, data FROM clusters {where} ORDER BY name, updated_at")
        return [c for id_, name, data in rows if (c := self._readable(Cluster, data, *cluster_repair(id_, name)))]

    def _cluster(self, row: sqlite3.Row) -> Cluster:
        return parsed(Cluster, row[2], *cluster_repair(row[0], row[1]))

    def forget_cluster(self, key: str) -> str:
        """Remove a terminated cluster, or one this version cannot read, by id or name, with its
        pilots, events and lease; returns its id."""
        with self.transaction() as db:
            rows = db.execute("SELECT id, name, data, state FROM clusters WHERE id = ? OR name = ? ORDER BY updated_at DESC", (key, key)).fetchall()
            live = [r for r in rows if r[3] != "terminated"]
            if not rows:
                raise StoreError(f"no cluster with the name or id {key!r}; `vc3tui cluster list --all` shows them")
            chosen = live[0] if live else rows[0]
            if chosen[3] != "terminated" and readable_json(Cluster, chosen[2]):
                raise StoreError(f"cluster {chosen[1]} is {chosen[3]}; terminate it first (`vc3tui cluster terminate {chosen[1]}`)")
            for table, column in (("pilots", "cluster_id"), ("events", "cluster_id"), ("leases", "cluster_id"), ("clusters", "id")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (chosen[0],))
        return chosen[0]

    def update_cluster(self, cluster_id: str, **intent: Any) -> Cluster:
        """Write user intent (a size, a terminate request); any process may, the lease holder acts."""
        unknown = set(intent) - set(USER_INTENT_FIELDS)
        if unknown:
            raise ValueError(f"not user intent: {sorted(unknown)}")
        with self.transaction() as db:
            row = db.execute("SELECT id, name, data FROM clusters WHERE id = ?", (cluster_id,)).fetchone()
            if row is None:
                raise KeyError(cluster_id)
            cluster = self._cluster(row)
            for key, value in intent.items():
                setattr(cluster, key, value)
            self._write_cluster(db, cluster)
        return cluster

    def counts(self, cluster_id: str) -> ClusterCounts:
        requested = self._db.execute(
            "SELECT COALESCE(json_extract(data, '$.target'), requested) FROM clusters WHERE id = ?", (cluster_id,)
        ).fetchone()
        groups = self._db.execute(
            "SELECT allocation, state, COALESCE(stage = 'worker_joined', 0), COUNT(*) FROM pilots WHERE cluster_id = ? GROUP BY 1, 2, 3",
            (cluster_id,),
        ).fetchall()
        return cluster_counts(requested[0] if requested else 0, groups)

    # pilots

    def add_pilot_intents(self, cluster_id: str, allocation: str, count: int) -> list[Pilot]:
        """Commit `count` new pilot rows with unique tags, before any job exists for them."""
        with self.transaction() as db:
            (top,) = db.execute("SELECT COALESCE(MAX(idx), -1) FROM pilots WHERE cluster_id = ?", (cluster_id,)).fetchone()
            pilots = [
                Pilot(
                    cluster_id=cluster_id,
                    allocation=allocation,
                    index=index,
                    tag=pilot_tag(self.installation_id, cluster_id, index),
                )
                for index in range(top + 1, top + 1 + count)
            ]
            self._write_pilots(db, pilots)
        return pilots

    def pilots(self, cluster_id: str, *, states: Iterable[PilotState] | None = None) -> list[Pilot]:
        query = f"SELECT {', '.join(_PILOT_COLUMNS)} FROM pilots WHERE cluster_id = ?"
        args: list[Any] = [cluster_id]
        if states is not None:
            wanted = list(states)
            query += f" AND state IN ({', '.join('?' * len(wanted))})"
            args += wanted
        rows = self._db.execute(query + " ORDER BY idx", args)
        return [_pilot_from_row(row) for row in rows]

    def pilot_lines(self, cluster_id: str) -> list[PilotLine]:
        """What a pilots table shows, as plain tuples: a view of 10,000 pilots reads them without
        building 10,000 models."""
        query = (
            "SELECT tag, idx, allocation, job_id, state, stage, reason, created_at, submitted_at, started_at, ended_at"
            " FROM pilots WHERE cluster_id = ? ORDER BY idx"
        )
        return [PilotLine(*row) for row in self._db.execute(query, (cluster_id,))]

    # events

    def events(self, cluster_id: str | None = None, *, after: int = 0, limit: int = 200) -> list[Event]:
        where, args = ("WHERE id > ?", [after]) if cluster_id is None else ("WHERE cluster_id = ? AND id > ?", [cluster_id, after])
        rows = self._db.execute(
            f"SELECT id, cluster_id, at, kind, message FROM events {where} ORDER BY id DESC LIMIT ?", [*args, limit]
        ).fetchall()
        return [Event(id=r[0], cluster_id=r[1], at=r[2], kind=r[3], message=r[4]) for r in reversed(rows)]

    def commit_cycle(self, writes: CycleWrites) -> None:
        """One transaction per engine cycle, however many pilots changed."""
        if not writes:
            return
        with self.transaction() as db:
            for cluster in writes.clusters:
                self._write_cluster(db, cluster, keep_intent=True)
            self._write_pilots(db, writes.pilots)
            db.executemany(
                "INSERT INTO events (cluster_id, at, kind, message) VALUES (?, ?, ?, ?)",
                [(e.cluster_id, e.at, e.kind, e.message) for e in writes.events],
            )

    # the factory lease: one process carries out a cluster's factory at a time

    def acquire_lease(self, cluster_id: str, owner: str, ttl: float, *, replace: str | None = None) -> bool:
        """Take or renew the lease; an expired lease may be taken over by anyone, and a live one
        only by naming its holder in `replace` (the caller has seen that holder is dead)."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT owner, expires_at FROM leases WHERE cluster_id = ?", (cluster_id,)).fetchone()
            if row and row[0] not in (owner, replace) and row[1] > now:
                return False
            db.execute(
                "INSERT OR REPLACE INTO leases (cluster_id, owner, expires_at) VALUES (?, ?, ?)",
                (cluster_id, owner, now + ttl),
            )
            return True

    def release_lease(self, cluster_id: str, owner: str) -> None:
        self._db.execute("DELETE FROM leases WHERE cluster_id = ? AND owner = ?", (cluster_id, owner))

    def lease_holder(self, cluster_id: str) -> str | None:
        row = self._db.execute(
            "SELECT owner FROM leases WHERE cluster_id = ? AND expires_at > ?", (cluster_id, time.time())
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _write_cluster(db: sqlite3.Connection, cluster: Cluster, *, keep_intent: bool = False) -> None:
        """With keep_intent, the stored user-intent fields win over the caller's possibly stale copy."""
        if keep_intent:
            row = db.execute("SELECT data FROM clusters WHERE id = ?", (cluster.id,)).fetchone()
            if row:
                stored = Cluster.model_validate_json(row[0])
                for key in USER_INTENT_FIELDS:
                    setattr(cluster, key, getattr(stored, key))
        db.execute(
            "INSERT INTO clusters (id, name, state, requested, data, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, "
            "requested = excluded.requested, data = excluded.data, updated_at = excluded.updated_at",
            (cluster.id, cluster.name, cluster.state, cluster.requested, cluster.model_dump_json(), time.time()),
        )

    @staticmethod
    def _write_pilots(db: sqlite3.Connection, pilots: list[Pilot]) -> None:
        db.executemany(
            f"INSERT OR REPLACE INTO pilots ({', '.join(_PILOT_COLUMNS)}) VALUES ({', '.join('?' * len(_PILOT_COLUMNS))})",
            [
                (
                    p.tag, p.cluster_id, p.allocation, p.index, p.state, p.stage, p.job_id, p.host, p.reason,
                    p.exit_code, p.created_at, p.submitted_at, p.started_at, p.ended_at,
                )  # fmt: skip
                for p in pilots
            ],
        )


def _pilot_from_row(row: sqlite3.Row) -> Pilot:
    values = dict(row)
    values["index"] = values.pop("idx")
    return Pilot(**{key: value for key, value in values.items() if value is not None})

"""The store's schema as forward migrations; `PRAGMA user_version` records how far a file has got.

Append a migration to change the schema; never edit one that has shipped, since users' files
were made by it.
"""

from __future__ import annotations

import sqlite3
import time

MIGRATIONS: list[str] = [
    # 1: the first shipped schema.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE allocations (name TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE environments (name TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE projects (name TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE clusters (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        requested INTEGER NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX clusters_by_name ON clusters (name);
    CREATE TABLE pilots (
        tag TEXT PRIMARY KEY,
        cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
        allocation TEXT NOT NULL,
        idx INTEGER NOT NULL,
        state TEXT NOT NULL,
        job_id TEXT,
        reason TEXT NOT NULL DEFAULT '',
        exit_code INTEGER,
        created_at REAL NOT NULL,
        submitted_at REAL,
        started_at REAL,
        ended_at REAL,
        UNIQUE (cluster_id, idx)
    );
    CREATE INDEX pilots_by_cluster_state ON pilots (cluster_id, state);
    CREATE TABLE leases (cluster_id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL);
    """,
    # 2: pilot stages and the host a pilot landed on; a per-cluster event log.
    """
    ALTER TABLE pilots ADD COLUMN stage TEXT;
    ALTER TABLE pilots ADD COLUMN host TEXT;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        cluster_id TEXT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_by_cluster ON events (cluster_id, id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def set_journal_mode(db: sqlite3.Connection, wanted: str) -> None:
    """Set once per file (it is kept in the file). SQLite answers "locked" at once, without
    waiting, when another process is creating the same new file: wait for it here."""
    deadline = time.monotonic() + 10
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != wanted:
                db.execute(f"PRAGMA journal_mode = {wanted}")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)

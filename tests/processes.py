"""Process facts for tests: what is alive, and stopping what a test's clusters started (by pid).

Groups are taken from the pids the store recorded; before a group is killed, one of its members
must carry the pilot's (or head's) tag on its command line, so a reused pid is never hit.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Alive and not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def group_members(pgid: int, tag: str) -> list[int]:
    """Live processes of a process group, if one of them carries `tag` (else the pid was reused)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members if any(tag in cmdline(pid) for pid in members) else []


def recorded_groups(home: Path) -> dict[str, int]:
    """Head and pilot process groups as the store recorded them: tag -> pgid."""
    database = home / "data" / "vc3tui.sqlite3"
    if not database.exists():
        return {}
    db = sqlite3.connect(database)
    try:
        (installation,) = db.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()
        groups = {
            tag: int(job_id)
            for tag, job_id in db.execute("SELECT tag, job_id FROM pilots WHERE job_id IS NOT NULL")
            if job_id.isdigit()
        }
        for (data,) in db.execute("SELECT data FROM clusters"):
            cluster = json.loads(data)
            if (cluster.get("head") or {}).get("pid"):
                groups[f"vc3-{installation}-{cluster['id']}head-0"] = cluster["head"]["pid"]
    finally:
        db.close()
    return groups


def leftovers(home: Path) -> dict[str, list[int]]:
    """Every recorded group that still has live members."""
    return {tag: members for tag, pgid in recorded_groups(home).items() if (members := group_members(pgid, tag))}


def stop_recorded_processes(home: Path) -> None:
    for tag, pgid in recorded_groups(home).items():
        if group_members(pgid, tag):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

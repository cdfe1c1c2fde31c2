"""Eight pilots starting at once on this machine, as a batch system starts an array on one node:
the time until the last of their workers runs, through the pilot wrapper (markers, the builder's
warm activation, the lifetime watchdog and the monitor) against the same eight workers started
bare. On a node full of starting pilots every process a wrapper starts delays the others' workers.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from vc3tui.engine.pilot import MONITOR_SOURCE, render_wrapper  # noqa: E402
from vc3tui.engine.paths import shipped_dir  # noqa: E402

PILOTS = 8
RUNS = 25
WORKER = 'date +%s.%N > started; exec sleep 30'
"""Stands for a worker: notes when it runs, then waits to be ended."""


def start_all(scripts: list[list[str]], dirs: list[Path]) -> float:
    """Start every script at once, each in its dir's parent (a pilot makes its own dir); seconds
    until the last one's worker wrote `started` in its dir."""
    for folder in dirs:
        (folder / "started").unlink(missing_ok=True)
    began = time.time()
    processes = [subprocess.Popen(argv, cwd=folder.parent, start_new_session=True, stderr=subprocess.DEVNULL) for argv, folder in zip(scripts, dirs)]
    try:
        while not all((folder / "started").exists() and (folder / "started").stat().st_size for folder in dirs):
            time.sleep(0.002)
        return max(float((folder / "started").read_text()) for folder in dirs) - began
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-pilots-") as tmp:
        base = Path(tmp)
        monitor = base / "monitor.py"
        monitor.write_bytes(MONITOR_SOURCE)
        builder = ["sh", str(shipped_dir("builder") / "vc3-builder"), "--install", str(base / "builder")]
        env = {"VC3_CLUSTER": "bench", "VC3_PILOT_LIFETIME": "600"}
        wrapper = base / "pilot.sh"
        wrapper.write_text(render_wrapper(str(base / "pilots"), builder, ["sh", "-c", WORKER], env, monitor_path=str(monitor)))
        tags = [f"vc3-bench-pilots-{i}" for i in range(PILOTS)]
        pilot_dirs = [base / "pilots" / tag for tag in tags]
        bare_dirs = [base / "bare" / tag for tag in tags]
        for folder in bare_dirs:
            folder.mkdir(parents=True)
        (base / "pilots").mkdir()
        start_all([["sh", str(wrapper), tags[0]]], [pilot_dirs[0]])  # builds the activation once
        ours, bare = [], []
        for _ in range(RUNS):
            ours.append(start_all([["sh", str(wrapper), tag] for tag in tags], pilot_dirs))
            bare.append(start_all([["sh", "-c", f"cd {tag} && {WORKER}"] for tag in tags], bare_dirs))
    print(f"{PILOTS} pilots at once on {os.cpu_count()} CPUs, {RUNS} runs each")
    ratio = statistics.median(ours) / statistics.median(bare)
    record(f"{PILOTS} pilots at once, to the last worker's start", [t * 1000 for t in ours], f"{PILOTS} bare workers at once",
           [t * 1000 for t in bare], unit="ms", target="ratio < 3.5", met=ratio < 3.5)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

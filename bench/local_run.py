"""`vc3tui --run examples/local-dask.toml` end to end with a warm builder cache, against a baseline.

Prints, for N runs: the whole run (head, 2 pilots, entry point, teardown) and the time until both
workers joined, beside the same word count on a bare `distributed.LocalCluster(n_workers=2)` in the
same run of this script. Targets: whole run < 10 s; both workers joined well inside that.

    .venv/bin/python bench/local_run.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import note, record  # noqa: E402

BASELINE = """
import collections, re, sys, time
from pathlib import Path
started = time.perf_counter()
from distributed import Client, LocalCluster
def count(text):
    return dict(collections.Counter(re.findall(r"[a-z']+", text.lower())))
with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1") as cluster, Client(cluster) as client:
    joined = time.perf_counter() - started
    total = collections.Counter()
    for counts in client.gather(client.map(count, [f.read_text() for f in sorted(Path(sys.argv[1]).glob("*.txt"))])):
        total.update(counts)
print(joined, time.perf_counter() - started, sum(total.values()))
"""


def vc3tui_run(home: Path) -> tuple[float, float]:
    env = {**os.environ, "VC3TUI_HOME": str(home)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "vc3tui", "--run", "examples/local-dask.toml", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    total = time.perf_counter() - started
    joined = next(json.loads(line)["t"] for line in result.stdout.splitlines() if json.loads(line)["kind"] == "ready")
    return total, joined


def baseline_run(python: Path) -> tuple[float, float]:
    result = subprocess.run(
        [python, "-c", BASELINE, str(ROOT / "examples" / "texts")], capture_output=True, text=True, check=True
    )
    joined, total, words = result.stdout.split()
    assert words == "381"
    return float(total), float(joined)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-") as tmp:
        home = Path(tmp)
        cold_total, cold_joined = vc3tui_run(home)
        venv_python = next((home / "cache" / "builder").glob("*/*/pip-*/*/bin/python"))  # the venv the builder made
        runs, bases = [], []
        for _ in range(args.runs):  # taking turns, so drift on the machine hits both alike
            runs.append(vc3tui_run(home))
            bases.append(baseline_run(venv_python))
    total, joined = [r[0] for r in runs], [r[1] for r in runs]
    base_total, base_joined = [b[0] for b in bases], [b[1] for b in bases]
    print(f"vc3tui --run examples/local-dask.toml, {args.runs} warm runs each")
    record("local-dask.toml end to end, warm cache", total, "bare LocalCluster(n_workers=2), same word count", base_total,
           unit="s", target="< 10 s", met=statistics.median(total) < 10)  # fmt: skip
    record("local-dask.toml, both workers joined", joined, "bare LocalCluster(n_workers=2) up", base_joined,
           unit="s", target="inside the 10 s", met=statistics.median(joined) < 10)  # fmt: skip
    note(f"the first, cold run builds the environment: {cold_total:.1f} s, workers joined at {cold_joined:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

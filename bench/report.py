"""The second half of bench/run: every benchmark in bench/, one after another, each appending its
figures (bench/results.py) to one file; then bench/RESULTS.md, a table of every figure with its
baseline measured in the same run, the ratio, the target, and the command that reproduces it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    "bench/slurm_pilots.py",
    "bench/ssh_commands.py",
    "bench/dask_workers.py",
    "bench/workqueue_workers.py",
    "bench/tui.py",
    "bench/builder.py",
    "bench/pilot_start.py",
    "bench/local_run.py",
    "bench/two_sites.py",
    "bench/condor_glideins.py",
]


def machine() -> str:
    memory_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    return f"{os.cpu_count()} CPUs, {memory_gb:.0f} GB, Linux {platform.release()}, Python {platform.python_version()}"


def cell(value: float) -> str:
    return f"{value:.3g}"


def spread(samples: list[float]) -> str:
    return f"{cell(min(samples))}–{cell(max(samples))}" if len(samples) > 1 else "1 run"


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| Figure | vc3tui (median) | spread | runs | Baseline, same run | baseline (median) | spread | Ratio | Target | Met | Command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = r["unit"]
        lines.append(
            f"| {r['what']} | {cell(r['ours_median'])} {unit} | {spread(r['ours'])} | {len(r['ours'])} | {r['baseline_name']} "
            f"| {cell(r['baseline_median'])} {unit} | {spread(r['baseline'])} | {cell(r['ratio'])}{' (paired)' if r.get('paired') else ''} | {r['target']} "
            f"| {'yes' if r['met'] else '**no**'} | `{r['command']}` |"
        )
    return lines


def write_results(path: Path, rows: list[dict], notes: list[dict], runs: list[tuple[str, int, float]], started: float) -> None:
    total = sum(seconds for _, _, seconds in runs)
    text = [
        "# Benchmark results",
        "",
        f"Measured by `bench/run` on {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}, on {machine()}; "
        f"all benchmarks together took {total / 60:.1f} min. Every figure is the median of its runs, with its spread "
        "(min–max), beside a baseline measured in the same run; the ratio is vc3tui / baseline (for a time lower is "
        "better, for a rate higher): of the medians, or, marked paired, the median of the runs' own ratios, where each "
        "of vc3tui's runs has a baseline run under the same conditions (bench/beds.Pacer). Machines here are noisy: "
        "compare ratios, not absolute numbers.",
        "",
        *table(rows),
        "",
        "## Notes",
        "",
        *(f"- {n['note']} (`{n['command']}`)" for n in notes),
        "",
        "## Runs",
        "",
        "| Benchmark | Exit status | Seconds |",
        "|---|---|---|",
        *(f"| `{name}` | {code} | {seconds:.0f} |" for name, code, seconds in runs),
        "",
    ]
    path.write_text("\n".join(text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this benchmark (e.g. tui; repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    kept = args.out.with_suffix(".jsonl")
    chosen = [b for b in BENCHMARKS if not args.only or Path(b).stem in args.only]
    started = time.time()
    runs = []
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as figures:
        env = {**os.environ, "BENCH_RESULTS": figures.name}
        for script in chosen:
            print(f"== {script}", flush=True)
            began = time.monotonic()
            code = subprocess.run([sys.executable, script], cwd=ROOT, env=env).returncode
            runs.append((script, code, time.monotonic() - began))
        lines = [json.loads(line) for line in Path(figures.name).read_text().splitlines() if line.strip()]
    if args.only and kept.exists():  # the other benchmarks' figures stay as their last run left them
        ran = {f".venv/bin/python {script}" for script, _, _ in runs}
        earlier = [json.loads(line) for line in kept.read_text().splitlines() if line.strip()]
        runs = [tuple(r["run"]) for r in earlier if "run" in r and r["run"][0] not in chosen] + runs
        lines = [line for line in earlier if "run" not in line and line["command"] not in ran] + lines
        order = {f".venv/bin/python {script}": number for number, script in enumerate(BENCHMARKS)}
        lines.sort(key=lambda line: order.get(line["command"], len(order)))
        runs.sort(key=lambda run: BENCHMARKS.index(run[0]) if run[0] in BENCHMARKS else len(BENCHMARKS))
    kept.write_text("".join(json.dumps(line) + "\n" for line in [*lines, *({"run": list(run)} for run in runs)]))
    rows = [line for line in lines if "what" in line]
    notes = [line for line in lines if "note" in line]
    write_results(args.out, rows, notes, runs, started)
    missed = [r["what"] for r in rows if not r["met"]]
    failed = [name for name, code, _ in runs if code]
    print(f"wrote {args.out}: {len(rows)} figures, {len(rows) - len(missed)} targets met"
          + (f"; missed: {', '.join(missed)}" if missed else "") + (f"; failed: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

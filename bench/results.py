"""One way every benchmark reports a figure: the median and spread of ours and of a baseline
measured in the same run, their ratio (of the medians, or the median of paired runs' own ratios),
the target and whether it was met. Printed as a line, and
with BENCH_RESULTS=FILE (bench/run sets it) appended to FILE as one JSON object per line, with
the command that reproduces it."""

from __future__ import annotations

import json
import os
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def command() -> str:
    """How to run the benchmark that is running now, from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    where = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join([".venv/bin/python", str(where), *sys.argv[1:]])


def spread(samples: Sequence[float]) -> str:
    return f"[{min(samples):.4g}-{max(samples):.4g}]" if len(samples) > 1 else "[1 run]"


def paired_ratio(ours: Sequence[float], baseline: Sequence[float]) -> float:
    """The median of the pairs' own ratios, where ours[i] and baseline[i] ran under the same
    conditions: what differs between pairs (e.g. the moment of SLURM's pass) then cancels, and
    every pair counts, where a ratio of the medians is one pair's (or two) luck."""
    return statistics.median(a / b for a, b in zip(ours, baseline, strict=True))


def record(
    what: str,
    ours: Sequence[float],
    baseline_name: str,
    baseline: Sequence[float],
    *,
    unit: str,
    target: str,
    met: bool,
    paired: bool = False,
) -> None:
    """One figure: `ours` and `baseline` are samples in `unit`; the ratio is ours / baseline (so
    for a rate, higher is better; for a time, lower): of the medians, or with `paired` the
    paired_ratio."""
    ours_median, base_median = statistics.median(ours), statistics.median(baseline)
    if paired:
        ratio = paired_ratio(ours, baseline)
    else:
        ratio = ours_median / base_median if base_median else float("inf")
    print(
        f"  {what:<46} {ours_median:9.4g} {unit:<10} {spread(ours):<17} | {baseline_name} {base_median:.4g} {unit} {spread(baseline)}"
        f" | ratio {ratio:.3g}{' (paired)' if paired else ''} | target {target}: {'met' if met else 'NOT MET'}"
    )
    out = os.environ.get("BENCH_RESULTS")
    if out:
        row = {
            "what": what, "unit": unit, "ours": list(ours), "ours_median": ours_median, "baseline_name": baseline_name,
            "baseline": list(baseline), "baseline_median": base_median, "ratio": ratio, "paired": paired, "target": target, "met": met,
            "command": command(),
        }  # fmt: skip
        with open(out, "a") as handle:
            handle.write(json.dumps(row) + "\n")


def note(text: str) -> None:
    """A line that explains the figures (printed; kept beside them in RESULTS.md)."""
    print(f"  ({text})")
    out = os.environ.get("BENCH_RESULTS")
    if out:
        with open(out, "a") as handle:
            handle.write(json.dumps({"note": text, "command": command()}) + "\n")

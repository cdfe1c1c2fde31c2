"""The benchmarks keep up with the code they measure: each one imports, and the factory CPU
benchmark runs a small cycle, so a rename is caught here and not by the next `bench/run`."""

from __future__ import annotations

import subprocess
import sys

from tests import ROOT

SYSTEM_PYTHON = {"wq_manager_clock", "wq_throughput"}
"""Run by the system's python3, which has cctools' Work Queue bindings; the virtualenv has not."""
BENCHES = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem not in {"__init__", *SYSTEM_PYTHON})


def test_every_benchmark_imports_and_the_factory_cycle_runs() -> None:
    script = "import importlib\n" + "".join(f"importlib.import_module('bench.{name}')\n" for name in BENCHES)
    script += "from bench.slurm_pilots import factory_cpu\nfirst, steady = factory_cpu(50)\nassert steady\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

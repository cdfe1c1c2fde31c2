"""The builder's two costs every pilot pays: activating an environment that is already built
(target < 0.3 s), and planning over a 100-recipe database (target < 0.2 s). The baseline, measured
in the same run, is the bare interpreter starting and exiting (`python -c pass`). Pilots go through
the sh bootstrap, which hands out an answer the builder kept without starting python at all.

Run: .venv/bin/python bench/builder.py
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import note, record  # noqa: E402
from tests.builder_site import make_sources, recipes, serving, write_recipes  # noqa: E402

REPEATS = 21
RECIPES = 100


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def synthetic_database(path: Path) -> list[str]:
    """RECIPES packages, three versions each; every package needs two earlier ones, and the newest
    version of every fifth one needs pkg(n/2) older than 3.0, which other packages have often chosen
    already: the plan backtracks (the bench prints how often)."""
    packages = {}
    for n in range(RECIPES):
        versions = []
        for major in (1, 2, 3):
            deps = {}
            if n >= 1:
                deps[f"pkg{n // 2}"] = ["1.0", "2.9"] if n % 5 == 0 and major == 3 else ["1.0"]
                deps[f"pkg{n - 1}"] = ["1.0"]
            item = {"name": f"pkg{n}-{major}.0.tar.gz", "sha256": "0" * 64}
            versions.append({"version": f"{major}.0", "source": {"type": "tarball", "files": [item]}, "dependencies": deps})
        packages[f"pkg{n}"] = {"section": "bench", "versions": versions}
    path.write_text(json.dumps({"packages": packages}))
    return [f"pkg{n}" for n in range(RECIPES - 5, RECIPES)]


def plan_in_process(builder: Path, database: Path, wanted: list[str]) -> float:
    """Seconds to load the database and solve, inside one interpreter (what --dry-run does after
    the interpreter's own start)."""
    spec = importlib.util.spec_from_file_location("vc3_builder_bench", builder)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = time.perf_counter()
    db = module.Database()
    db.load(str(builder.parent / "vc3-recipes.json"))
    db.load(str(database))
    planner = module.Planner(db, module.SystemProbe("/nonexistent/cache"), {}, set(), {}, quiet=True)
    chosen = planner.solve([module.Requirement.parse(name) for name in wanted])
    elapsed = time.perf_counter() - started
    assert chosen is not None and len(chosen) == RECIPES, "the synthetic plan must take every recipe"
    return elapsed


def main() -> int:
    builder = ROOT / "builder" / "vc3_builder.py"
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-builder-") as tmp:
        tmp_path = Path(tmp)
        sums = make_sources(tmp_path / "mirror")
        greet = write_recipes(tmp_path / "greet.json", recipes(sums))
        install = ["--install", str(tmp_path / "root"), "--database", str(greet), "--require", "greet", "--require", "python"]
        env_to = ["--env-to", str(tmp_path / "env.sh")]
        with serving(tmp_path / "mirror") as url:
            subprocess.run([python, str(builder), *install, "--repository", url, *env_to], check=True, capture_output=True, env={"VC3_TEST_COUNTER": str(tmp_path / "n"), "PATH": "/usr/bin:/bin"})
        bare = [timed([python, "-c", "pass"]) for _ in range(REPEATS)]
        warm = [timed([python, str(builder), *install, "--silent", *env_to]) for _ in range(REPEATS)]
        bootstrap = ["sh", str(builder.parent / "vc3-builder"), *install, "--silent", *env_to]
        subprocess.run(bootstrap, check=True, capture_output=True)  # keeps the answer for the next ones
        kept = [timed(bootstrap) for _ in range(REPEATS)]
        wanted = synthetic_database(tmp_path / "hundred.json")
        plan_argv = [python, str(builder), "--install", str(tmp_path / "root"), "--database", str(tmp_path / "hundred.json"), "--dry-run"]
        plan_argv += [arg for name in wanted for arg in ("--require", name)]
        plan_cli = [timed([*plan_argv, "--silent"]) for _ in range(REPEATS)]
        plan = [plan_in_process(builder, tmp_path / "hundred.json", wanted) for _ in range(REPEATS)]
        logged = subprocess.run(plan_argv, capture_output=True, text=True).stderr
    backtracks = sum(1 for text in logged.splitlines() if text.startswith("Fail:"))
    print(f"builder costs ({REPEATS} runs each)")
    bare_ms = [t * 1000 for t in bare]
    for what, samples, target in (
        ("builder warm activation (greet + libgreet + python)", warm, 300),
        ("builder warm activation, sh bootstrap (pilots)", kept, 300),
        (f"builder plan over {RECIPES} recipes, whole command", plan_cli, 200),
        (f"builder plan over {RECIPES} recipes, in process", plan, 200),
    ):
        ms = [t * 1000 for t in samples]
        record(what, ms, "bare `python -c pass`", bare_ms, unit="ms", target=f"< {target} ms", met=statistics.median(ms) < target)
    note(f"the {RECIPES}-recipe plan backtracks {backtracks} times before it settles")
    return 0


if __name__ == "__main__":
    sys.exit(main())

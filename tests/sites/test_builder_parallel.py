"""--parallel: the build graph as a Makeflow workflow, run as SLURM jobs by `makeflow -T slurm`
on the test bed's SLURM; afterwards the environment activates with nothing left to build."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.builder_site import build_jobs, make_sources, recipes, run_builder, runs, serving, write_recipes

pytestmark = pytest.mark.timeout(300)


def test_parallel_builds_the_two_packages_as_slurm_jobs(slurm, tmp_path: Path) -> None:
    if not shutil.which("makeflow"):
        pytest.fail("makeflow (cctools) is missing: tests/testbed/install-packages installs it")
    database = write_recipes(tmp_path / "greet.json", recipes(make_sources(tmp_path / "mirror")))
    counter, root, flow = tmp_path / "counter", tmp_path / "root", tmp_path / "flow"
    env = {**slurm.env, "VC3_TEST_COUNTER": str(counter)}
    with serving(tmp_path / "mirror") as url:
        written = run_builder(root, "--database", str(database), "--repository", url, "--require", "greet", "--parallel", str(flow), env=env)
        assert written.returncode == 0, written.stderr
        workflow = (flow / "Makeflow").read_text()
        assert "libgreet-2.0.done:" in workflow and "greet-2.0.done: libgreet-2.0.done" in workflow
        assert runs(counter) == []  # written, not built
        ran = subprocess.run(["makeflow", "-T", "slurm", "Makeflow"], cwd=flow, capture_output=True, text=True, timeout=240, env={**os.environ, **env})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "nothing left to do" in ran.stdout
    assert [Path(p).parent.name for p in runs(counter)] == ["libgreet", "greet"]
    jobs = build_jobs(counter)
    assert all(job.isdigit() for job in jobs) and len(set(jobs)) == 2, jobs
    warm = run_builder(root, "--database", str(database), "--require", "greet", "--", "greet", env=env)
    assert warm.stdout == "hello from libgreet 2.0\n" and "Build:" not in warm.stderr

"""The hostile-input corpus (tests/hostile/ and the probes below) through the real CLI, each in a
fresh data dir: every probe is refused with vc3tui's own lines (no traceback) well within 10 s,
no escape reaches the terminal, and `resource list` and `cluster list` still work after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import ROOT

CORPUS = ROOT / "tests" / "hostile"
REFUSED = 2

pytestmark = pytest.mark.timeout(120)


def vc3tui(home: Path, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VC3TUI_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "vc3tui", "--no-input", *argv], env=env, capture_output=True, text=True, timeout=timeout)


def special_files(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    fifo = folder / "fifo.toml"
    os.mkfifo(fifo)
    big = folder / "big.toml"
    big.write_text('name = "big"\n# ' + "x" * (2 << 20) + "\n")
    return {"fifo": fifo, "big": big, "device": Path("/dev/zero"), "directory": folder, "missing": folder / "nope.toml"}


PROBES = [
    *(pytest.param(["--run", str(path)], id=path.stem) for path in sorted(CORPUS.glob("*.toml")) if not path.stem.startswith("project-")),
    *(pytest.param(["project", "import", str(path)], id=path.stem) for path in sorted(CORPUS.glob("project-*.toml"))),
    *(pytest.param(["--run", f"{{{kind}}}"], id=f"run-{kind}") for kind in ("fifo", "big", "device", "directory", "missing")),
    pytest.param(["project", "import", "{device}"], id="import-device"),
    pytest.param(["cluster", "resize", "x", "1000000000000"], id="resize-trillion"),
    pytest.param(["cluster", "extend", "x", "99999999999999999999d"], id="extend-forever"),
    pytest.param(["blueprint", "new", "x", "--middleware", "dask", "--workers", "1000000000000"], id="new-trillion-workers"),
    pytest.param(["blueprint", "new", "x", "--middleware", "dask", "--walltime", "0s"], id="new-zero-walltime"),
    pytest.param(["blueprint", "new", "x", "--middleware", "dask", "-o", "{directory}"], id="new-into-directory"),
    pytest.param(["blueprint", "new", "x", "--middleware", "dask", "-o", "/nonexistent-folder/x.toml"], id="new-missing-folder"),
    pytest.param(["blueprint", "new", "$(id)", "--middleware", "dask"], id="new-substitution-name"),
    pytest.param(["allocation", "create", "a", "--resource", "local", "--passphrase"], id="passphrase-without-input"),
    pytest.param(["allocation", "create", "a", "--resource", "anvil", "--login", "me", "--key", "/etc"], id="key-is-a-directory"),
    pytest.param(["resource", "add", "$(id)", "--host", "h.example.org", "--batch", "slurm"], id="resource-substitution-name"),
    pytest.param(["resource", "add", "r", "--host", "a;reboot", "--batch", "slurm"], id="resource-host-semicolon"),
    pytest.param(["resource", "add", "r", "--host", "h.example.org", "--batch", "slurm", "--cores", "99999999999999999999"], id="resource-cores"),
    pytest.param(["cluster", "join", "x"], id="join-nothing"),
    pytest.param(["resource", "add", "r", "--host", "h.example.org", "--batch", "slurm", "--proxy-jump", "me@bad;reboot"], id="resource-jump-semicolon"),
]


@pytest.mark.parametrize("argv", PROBES)
def test_a_hostile_probe_is_one_clear_refusal(argv: list[str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = special_files(tmp_path / "files") if any("{" in a for a in argv) else {}
    argv = [a.format(**files) if a.startswith("{") else a for a in argv]
    started = time.monotonic()
    result = vc3tui(home, *argv)
    took = time.monotonic() - started
    assert result.returncode == REFUSED, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert took < 10, f"{took:.1f} s to refuse"
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(("vc3tui: ", str(tmp_path), str(CORPUS), "/dev/zero", "usage:", "  ")) for line in lines), result.stderr
    assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout + result.stderr
    for after in (["resource", "list"], ["cluster", "list"]):
        assert vc3tui(home, *after).returncode == 0


def test_a_resource_keeps_the_bastion_it_names(tmp_path: Path) -> None:
    added = vc3tui(tmp_path, "resource", "add", "lab", "--host", "login.example.org", "--proxy-jump", "me@bastion.example.org:2222", "--batch", "slurm")
    assert added.returncode == 0, added.stderr
    assert "proxy jump    me@bastion.example.org:2222" in vc3tui(tmp_path, "resource", "show", "lab").stdout


def test_the_corpus_holds_every_class() -> None:
    names = {path.stem for path in CORPUS.glob("*.toml")}
    assert {"count-trillion", "weight-inf", "deep-arrays", "nul-argument", "pip-option", "project-escapes", "project-replaces-anvil"} <= names


@pytest.mark.timeout(180)
def test_pilots_that_fail_at_start_end_the_run_with_the_reason(tmp_path: Path) -> None:
    """Five pilots whose command fails at once: no resubmission loop; the run says why and exits non-zero."""
    blueprint = tmp_path / "fails.toml"
    blueprint.write_text('name = "fails"\nmiddleware = "none"\n[workers]\ncount = 5\ncommand = ["sh", "-c", "echo broken >&2; exit 3"]\n[[allocations]]\nname = "local"\n')
    result = vc3tui(tmp_path / "home", "--run", str(blueprint), timeout=150)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "pilots on local fail at start" in result.stdout, result.stdout
    assert "Traceback" not in result.stderr
    listed = vc3tui(tmp_path / "home", "cluster", "list", "--all").stdout
    assert "fails" in listed and "terminated" in listed, listed


@pytest.mark.timeout(180)
def test_a_second_sigterm_during_teardown_cancels_at_once_and_finishes_it(tmp_path: Path) -> None:
    blueprint = tmp_path / "sleepers.toml"
    blueprint.write_text('name = "sleepers"\nmiddleware = "none"\n[workers]\ncount = 2\ncommand = ["sleep", "600"]\n[[allocations]]\nname = "local"\n')
    env = {**os.environ, "VC3TUI_HOME": str(tmp_path / "home")}
    run = subprocess.Popen([sys.executable, "-m", "vc3tui", "--no-input", "--run", str(blueprint)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in run.stdout:
            if "managing the cluster until Ctrl-C" in line:
                break
        run.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGTERM, (out, err)
    assert "Traceback" not in err
    listed = vc3tui(tmp_path / "home", "cluster", "list", "--all").stdout
    assert "sleepers  terminated" in listed, listed


@pytest.mark.timeout(120)
async def test_a_factory_that_dies_ends_the_wait_with_its_cause(engine, monkeypatch) -> None:
    """No wait on a cluster whose manager here has stopped for good: the cause is said at once
    (here the lease's store write fails outside any cycle)."""
    from vc3tui.engine import ClusterState, VC3Error
    from vc3tui.engine.models import AllocationUse, Blueprint, MiddlewareKind, WorkerSpec

    cluster = await engine.launch(Blueprint(name="doomed", middleware=MiddlewareKind.NONE, workers=WorkerSpec(count=1, command=["sleep", "600"]), allocations=[AllocationUse(name="local")]))
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 60)

    async def disk_gone(cluster_id: str) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.lease, "renew", disk_gone)
    with pytest.raises(VC3Error, match=r"managing doomed stopped: OSError: \[Errno 28\] No space left on device; `vc3tui cluster manage doomed` resumes it"):
        await engine.wait_for(cluster.id, lambda r: False, 60)
    monkeypatch.undo()
    await engine.terminate(cluster.id, peaceful=False)
    assert await engine.manage(cluster.id)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 60)

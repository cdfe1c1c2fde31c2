"""Shared fixtures (every test gets its own VC3TUI_HOME, so nothing touches the real user dirs),
and each test marked with its tier, the folder it lives in: `./tests/run -m unit` runs one."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vc3tui.engine import Engine
from vc3tui.engine.paths import Dirs

TIERS = ("unit", "sites", "app")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(tier)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "vc3home"
    monkeypatch.setenv("VC3TUI_HOME", str(root))
    return root


@pytest.fixture
def user_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own (no ~/.ssh or known_hosts of this machine's), no ssh-agent."""
    path = home.parent / "user-home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return path


@pytest.fixture
def dirs(home: Path) -> Dirs:
    return Dirs.from_environment().ensure()


@pytest.fixture(scope="session")
def builder_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One builder install root for the whole run, so the Dask venv is built once."""
    return tmp_path_factory.mktemp("builder-cache")


@pytest.fixture
def cluster_home(home: Path, builder_cache: Path) -> Path:
    """A VC3TUI_HOME whose builder cache is shared; every process its clusters started is stopped
    at the end, found by the pids the store recorded (never by name)."""
    (home / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache" / "builder").symlink_to(builder_cache)
    yield home
    from tests.processes import stop_recorded_processes

    stop_recorded_processes(home)


def session_bed(usable: Callable[[], str | None], make: Callable[[], Any]) -> Iterator[Any]:
    """A fixture's body: the test bed `make` gives, started (skipped, saying why, where `usable`
    says it cannot run here) and stopped by pid at the end."""
    reason = usable()
    if reason:
        pytest.skip(reason)
    bed = make().start()
    yield bed
    bed.stop()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """The real OpenSSH test bed (tests/testbed/sshd.py), started once, stopped by pid at the end."""
    from tests.testbed.sshd import SSHTestBed, usable

    yield from session_bed(usable, lambda: SSHTestBed(tmp_path_factory.mktemp("sshd")))


@pytest.fixture(scope="session")
def slurm():
    """The project's own SLURM (tests/testbed/slurm.py) with its own munged, ports and SLURM_CONF."""
    from tests.testbed.slurm import SlurmTestBed, usable

    yield from session_bed(usable, SlurmTestBed)


@pytest.fixture(scope="session")
def slurm_sshd(slurm, tmp_path_factory: pytest.TempPathFactory):
    """An sshd whose sessions reach that SLURM (SetEnv SLURM_CONF), as a login node would."""
    from tests.testbed.sshd import SSHTestBed

    bed = SSHTestBed(tmp_path_factory.mktemp("slurm-sshd"), set_env={"SLURM_CONF": str(slurm.conf)}, mfa=False).start()
    yield bed
    bed.stop()


@pytest.fixture(scope="session")
def sge():
    """The single-host Son of Grid Engine cell (tests/testbed/sge.py); daemons stopped by pid."""
    from tests.testbed.sge import SGETestBed, usable

    yield from session_bed(usable, SGETestBed)


@pytest.fixture(scope="session")
def condor_pool():
    """A personal HTCondor pool in the trixie root the clone's cache keeps (tests/testbed/condor.py)."""
    from tests import ROOT
    from tests.testbed.condor import CondorPool, condor_root, usable

    yield from session_bed(usable, lambda: CondorPool(condor_root(ROOT / ".cache")))


@pytest.fixture(scope="session")
def condor_tarball() -> Path:
    """The relocatable HTCondor tarball made from the pools' root (tests/testbed/condor_tarball.py)."""
    from tests import ROOT
    from tests.testbed import condor, condor_tarball

    reason = condor.usable() or condor_tarball.usable()
    if reason:
        pytest.skip(reason)
    return condor_tarball.condor_tarball(condor.condor_root(ROOT / ".cache"), ROOT / ".cache")


@pytest.fixture(scope="session")
def condor_site_bed(tmp_path_factory: pytest.TempPathFactory):
    """A site whose login node is an HTCondor submit host (tests/testbed/condor.py)."""
    from tests import ROOT
    from tests.testbed.condor import CondorSite, condor_root, usable

    yield from session_bed(usable, lambda: CondorSite(condor_root(ROOT / ".cache"), tmp_path_factory.mktemp("condor-sshd")))


@pytest.fixture
def condor_site(condor_site_bed, user_home: Path):
    """That site, its user's home reset before and after, every job removed."""
    yield from condor_site_bed.sshd.clean_for_a_test(condor_site_bed.remove_all_jobs)


@pytest.fixture
def two_sites(request: pytest.FixtureRequest):
    """Two sites on the namespace test bed (tests/testbed/topology.py, two_sites.py), each its own
    sshd, SLURM and home; everything stopped by pid and the namespaces removed. Parametrized
    indirectly with options: {"b_only_via_bastion": True} (site b takes SSH from the bastion
    only), {"mfa_site": "b"} (site b asks a password and a code), {"bare_site": "b"} (site b's nodes
    are bare: tests/testbed/bare_node.py)."""
    from tests.testbed.topology import Topology, usable
    from tests.testbed.two_sites import TwoSites

    reason = usable()
    if reason:
        pytest.skip(reason)
    options = getattr(request, "param", {})
    bare = None
    if options.get("bare_site"):
        from tests import ROOT
        from tests.testbed import bare_node
        from tests.testbed.sshd import USER
        from tests.testbed.two_sites import ensure_user

        reason = bare_node.usable()
        if reason:
            pytest.skip(reason)
        ensure_user()
        bare = bare_node.bare_root(ROOT / ".cache", USER)
    net = Topology(b_only_via_bastion=options.get("b_only_via_bastion", False)).up()
    sites = TwoSites(net, mfa_site=options.get("mfa_site"), bare_site=options.get("bare_site"), bare_root=bare)
    try:
        yield sites.start()
    finally:
        sites.stop()
        net.down()


@pytest.fixture
def ssh_site(sshd, user_home: Path):
    """The plain sshd test bed (and its password + code port), its account clean before and after."""
    yield from sshd.clean_for_a_test()


@pytest.fixture
def site(slurm, slurm_sshd, user_home: Path):
    """The SLURM test bed over SSH, its user's home reset before and after, every job cancelled."""
    yield from slurm_sshd.clean_for_a_test(slurm.cancel_everything)


@pytest.fixture
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the site's user (the pilots) and the test can both write and read."""
    folder = tmp_path_factory.mktemp("shared")
    folder.chmod(0o1777)
    for parent in folder.parents:
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    return folder


@pytest.fixture
def cleanup():
    """Process groups a test started, killed at its end whatever happened."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
async def engine(home: Path) -> AsyncIterator[Engine]:
    """An engine on the test's own home that never prompts, closed when the test ends however it
    ends (a test that must close it earlier may: closing again does nothing)."""
    engine = Engine(Dirs.from_environment(), interactive=False)
    yield engine
    await engine.close()


@pytest.fixture
async def new_engine(home: Path) -> AsyncIterator[Callable[..., Engine]]:
    """Engine's own constructor, for tests that need several engines, other dirs or questions
    answered; every engine it made is closed when the test ends."""
    made: list[Engine] = []

    def make(dirs: Dirs | None = None, *, interactive: bool = True) -> Engine:
        made.append(Engine(dirs or Dirs.from_environment(), interactive=interactive))
        return made[-1]

    yield make
    for engine in made:
        await engine.close()

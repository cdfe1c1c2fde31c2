"""A site reached only through a bastion, as the user's ~/.ssh/config says (ProxyJump): the
allocation validates stage by stage through it, the test job included."""

from __future__ import annotations

import pwd
from pathlib import Path

import asyncssh
import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Allocation, BatchKind, Resource
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import AllocationState

from tests.testbed import topology
from tests.testbed.sshd import USER
from tests.testbed.two_sites import TwoSites
from tests.topology_site import authorize

pytestmark = [pytest.mark.timeout(180), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]


async def validated_on_both_hops(engine: Engine, two_sites: TwoSites, allocation: Allocation, public_line: str) -> Allocation:
    """The allocation's key authorized on site b and on the bastion (no site home there: the test
    user's own, which the sshd test bed resets too, and this removes again), then validated."""
    bastion_home = Path(pwd.getpwnam(USER).pw_dir)
    authorize(two_sites.home("b"), public_line)
    authorize(bastion_home, public_line)
    try:
        return await engine.access.validate(allocation)
    finally:
        (bastion_home / ".ssh" / "authorized_keys").unlink(missing_ok=True)


def assert_ready_through(validated: Allocation, bastion: str) -> None:
    stages = {stage.stage: stage for stage in validated.report}
    assert validated.state is AllocationState.READY, validated.report[-1]
    assert f"reached through {bastion}" in stages["resolve host"].detail
    assert "siteb-node" in stages["test job"].detail


@pytest.mark.parametrize("two_sites", [{"b_only_via_bastion": True}], indirect=True)
async def test_a_site_behind_the_bastion_validates_through_it(two_sites: TwoSites, tmp_path: Path, monkeypatch) -> None:
    net = two_sites.net
    home = tmp_path / "user"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    bastion = net.address_of("bastion", "laptop")
    with net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            engine.save_resource(Resource(name="siteb", login_hosts=["siteb"], batch=BatchKind.SLURM, poll_interval=1))
            allocation, pair = await engine.access.create("b", "siteb", USER)
            (home / ".ssh" / "config").write_text(
                f"Host jump\n  HostName {bastion}\n  User {USER}\n  IdentityFile {pair.private}\n"
                f"Host siteb\n  HostName {net.address_of('b-login', 'bastion')}\n  ProxyJump jump\n"
            )
            (home / ".ssh" / "known_hosts").write_text(f"{bastion} {' '.join(two_sites.host_key('bastion').read_text().split()[:2])}\n")
            engine.access.host_keys.add(net.address_of("b-login", "bastion"), 22, asyncssh.read_public_key(two_sites.host_key("b-login")))
            validated = await validated_on_both_hops(engine, two_sites, allocation, pair.public_line)
        finally:
            await engine.close()
    assert_ready_through(validated, "jump")


@pytest.mark.parametrize("two_sites", [{"b_only_via_bastion": True}], indirect=True)
async def test_a_resource_that_names_its_bastion_needs_no_ssh_config(two_sites: TwoSites, tmp_path: Path, monkeypatch) -> None:
    """The resource's own `proxy_jump`: the bastion's key checked against vc3tui's known hosts, the
    allocation's key used on both hops, no ~/.ssh/config at all."""
    net = two_sites.net
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("VC3TUI_HOME", str(tmp_path / "vc3home"))
    bastion, login = net.address_of("bastion", "laptop"), net.address_of("b-login", "bastion")
    with net.entered("laptop"):
        engine = Engine(Dirs.from_environment(), interactive=False)
        try:
            engine.save_resource(Resource(name="siteb", login_hosts=[login], proxy_jump=f"{USER}@{bastion}", batch=BatchKind.SLURM, poll_interval=1))
            allocation, pair = await engine.access.create("b", "siteb", USER)
            engine.access.host_keys.add(bastion, 22, asyncssh.read_public_key(two_sites.host_key("bastion")))
            engine.access.host_keys.add(login, 22, asyncssh.read_public_key(two_sites.host_key("b-login")))
            validated = await validated_on_both_hops(engine, two_sites, allocation, pair.public_line)
        finally:
            await engine.close()
    assert_ready_through(validated, f"{USER}@{bastion}")

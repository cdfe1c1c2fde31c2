"""Allocations on the real test-bed SLURM reached over the real test-bed sshd, for every test that needs one."""

from __future__ import annotations

import pwd
import shutil
from pathlib import Path

import asyncssh

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Allocation, BatchKind, Resource
from vc3tui.engine.states import AllocationState

from tests.testbed.sshd import USER


def our_jobs(slurm, cluster_id: str) -> list[tuple[str, str, str]]:
    """(job id, state, comment) of this cluster's jobs, as SLURM itself lists them."""
    lines = slurm.squeue("-r", "-o", "%i|%T|%k")
    return [tuple(line.split("|")) for line in lines if f"-{cluster_id} " in line]


async def slurm_allocation(engine: Engine, bed, name: str, partition: str | None = None, *, batch: BatchKind = BatchKind.SLURM) -> Allocation:
    """A validated allocation on the test SLURM (or the site's `batch`) over SSH, its key
    installed and host key known."""
    engine.save_resource(
        Resource(name=f"site-{name}", login_hosts=["127.0.0.1"], port=bed.port, batch=batch, partition=partition, poll_interval=1),
    )
    host_key = asyncssh.read_public_key(bed.root / "host_ed25519.pub")
    if not engine.access.host_keys.trusted_keys("127.0.0.1", bed.port):
        engine.access.host_keys.add("127.0.0.1", bed.port, host_key)
    allocation, pair = await engine.access.create(name, f"site-{name}", USER)
    existing = (bed.home / ".ssh" / "authorized_keys").read_text() if (bed.home / ".ssh" / "authorized_keys").exists() else ""
    bed.write_user_file(".ssh/authorized_keys", existing + pair.public_line + "\n")
    validated = await engine.access.validate(allocation)
    assert_validated(validated)
    return validated


def assert_validated(validated: Allocation) -> None:
    """Ready, its test job run on a node, and over SSH that node able to reach this machine (on
    loopback) directly and through the login node."""
    assert validated.state is AllocationState.READY, validated.report[-1]
    stages = {stage.stage: stage for stage in validated.report}
    assert "vc3tui-test-job ran on" in stages["test job"].detail
    if "reachability" in stages:
        assert validated.reach is not None and validated.reach.this_machine and validated.reach.through_login, stages["reachability"].detail


def offline_pip(home: Path, wheelhouse: Path) -> None:
    """The site's user (whose home is `home` here) installs only from a copy of `wheelhouse` in
    their home, as on a site without internet (a copy: the checkout may sit where only root can
    read, as a fresh clone in a `mktemp -d` folder does)."""
    copy = home / "wheelhouse"
    config = home / ".config" / "pip"
    config.mkdir(parents=True, exist_ok=True)
    shutil.copytree(wheelhouse, copy, dirs_exist_ok=True)
    (config / "pip.conf").write_text(f"[global]\nno-index = true\nfind-links = {pwd.getpwnam(USER).pw_dir}/wheelhouse\n")
    for path in (home / ".config", config, config / "pip.conf", copy, *copy.iterdir()):
        shutil.chown(path, USER, USER)

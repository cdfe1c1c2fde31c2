"""An HTCondor pool run by the test user on the namespace test bed's laptop, as a person runs
vc3tui: as themselves (HTCondor's schedd runs no job of root's, and root is who runs the tests).

`run_as_user(net, home, blueprint, jobs)` runs this module in the laptop's network as the test
user, on a VC3TUI_HOME whose allocations the test made and validated: it launches the blueprint,
waits for every glidein to join, has the user's jobs run, terminates, and reports what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import stat
import sys
import sysconfig
import traceback
from collections.abc import Iterator
from pathlib import Path

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Blueprint
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState

from tests import ROOT
from tests.condor_jobs import starts, submit
from tests.testbed.sshd import USER
from tests.testbed.topology import Topology


async def scenario(blueprint: Blueprint, jobs: int) -> dict:
    engine = Engine(Dirs.from_environment(), interactive=False)
    seen: dict = {}
    try:
        cluster_id = (await engine.launch(blueprint)).id
        try:
            row = await engine.wait_for(cluster_id, lambda r: r.counts.joined == blueprint.workers.count or r.cluster.state is ClusterState.FAILED, 300)
            seen.update(joined=row.counts.joined, reason=row.cluster.reason, ports=sorted(row.cluster.head.ports))
            if row.counts.joined == blueprint.workers.count:
                workdir = Path(row.cluster.head.workdir)
                out = workdir / "user.out"  # the head is here: the user's commands run in its dir
                job = await submit(engine, cluster_id, workdir, out, jobs, 0)
                seen["starts"] = await starts(engine, cluster_id, out, job)
                seen["ran_on"] = [(workdir / "out" / f"{job}.{n}").read_text().split()[-1] for n in range(jobs)]
            seen["pilots"] = {p.tag: p.allocation for p in await engine.pilots(cluster_id)}
            seen["events"] = [e.message for e in await engine.cluster_events(cluster_id, limit=1000)]
        finally:
            await engine.terminate(cluster_id, peaceful=False)
            row = await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
            seen["terminated"] = row.cluster.state is ClusterState.TERMINATED
    finally:
        await engine.close()
    return seen


@contextlib.contextmanager
def reachable_by_others(path: Path) -> Iterator[None]:
    """`path` readable and its folders traversable by other users for a while (a clone made with
    `mktemp -d` is neither): the test user's python imports this checkout, and lists its folder to
    find the package. Modes are put back after."""
    wanted = [(path, stat.S_IROTH | stat.S_IXOTH), *((folder, stat.S_IXOTH) for folder in path.parents)]
    changed = [(folder, folder.stat().st_mode, bits) for folder, bits in wanted if folder.stat().st_mode & bits != bits]
    for folder, mode, bits in changed:
        folder.chmod(stat.S_IMODE(mode) | bits)
    try:
        yield
    finally:
        for folder, mode, _ in changed:
            folder.chmod(stat.S_IMODE(mode))


def run_as_user(net: Topology, home: Path, blueprint: Blueprint, jobs: int) -> dict:
    """The scenario on the laptop, run by the test user on `home` (made theirs here)."""
    for path in [home, *home.rglob("*")]:
        shutil.chown(path, USER, USER)
    # the system's python of this one's version, with this one's packages and none of its own:
    # the interpreter running the tests may live where only root can reach (a pyenv under /root)
    python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    packages = os.pathsep.join(dict.fromkeys([str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    env = ["env", f"VC3TUI_HOME={home}", f"HOME={home}", f"PATH={os.environ['PATH']}", f"PYTHONPATH={packages}"]
    argv = ["runuser", "-u", USER, "--", *env, python, "-S", "-m", "tests.condor_laptop", blueprint.model_dump_json(), str(jobs)]
    with reachable_by_others(ROOT):
        done = net.run("laptop", argv, cwd=ROOT, timeout=600)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"the user's engine failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(scenario(Blueprint.model_validate_json(sys.argv[1]), int(sys.argv[2])))))
    except Exception:
        traceback.print_exc()
        sys.exit(1)

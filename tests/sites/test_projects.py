"""Projects shared without a server: a project file made in one data dir and taken in by another
shows the same resources and blueprints, its allocations waiting for the importer's own login;
and two members (two data dirs) put pilots into one shared cluster whose head sees both."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests import ROOT
from tests.processes import leftovers, stop_recorded_processes
from tests.waiting import wait_until_async
from vc3tui.engine.engine import Engine
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware
from vc3tui.engine.models import Allocation, BatchKind, Blueprint, Member, Project, Resource, SharedCluster
from vc3tui.engine.paths import Dirs
from vc3tui.engine.projects import ProjectError
from vc3tui.engine.states import AllocationState, ClusterState
from vc3tui.engine.store import Store
from vc3tui.engine.tomlfile import FileErrors

SHARED = """name = "shared"
middleware = "dask"

[environment]
pip = ["dask[distributed]"]

[workers]
count = 1
walltime = "20m"

[[allocations]]
name = "{allocation}"
"""


def dirs_at(root: Path) -> Dirs:
    return Dirs(config=root / "config", data=root / "data", cache=root / "cache")


async def amir_with_a_project(new_engine: Callable[..., Engine], home: Path, tmp_path: Path) -> Engine:
    """Amir's data dir: his own resource, an allocation on it, and a project sharing a blueprint that uses it."""
    engine = new_engine(dirs_at(home), interactive=False)
    engine.projects.call_me("Amir")
    engine.save_resource(Resource(name="uni-hpc", login_hosts=["login.uni.example"], batch=BatchKind.SLURM, partition="short"))
    await engine.store.run(Store.put_allocation, Allocation(name="uni", resource="uni-hpc", login="amir", account="phy123", key_path="/nonexistent", state=AllocationState.READY))
    blueprint = tmp_path / "shared.toml"
    blueprint.write_text(SHARED.format(allocation="uni"))
    await engine.projects.create("cms", "CMS analysis", [blueprint])
    await engine.projects.add_member("cms", Member(name="Ye", email="ye@uni.example"))
    return engine


async def test_a_project_passes_from_one_data_dir_to_another(home: Path, tmp_path: Path, new_engine: Callable[..., Engine]) -> None:
    amir = await amir_with_a_project(new_engine, home / "amir", tmp_path)
    ye = new_engine(dirs_at(home / "ye"), interactive=False)
    exported = await amir.export_project("cms", tmp_path / "cms.toml")
    text = (tmp_path / "cms.toml").read_text()
    assert "amir" not in text.replace("Amir", "") and "key" not in text.lower().replace("no keys", ""), "no login, no key leaves"
    project, report = await ye.projects.import_file(tmp_path / "cms.toml")
    assert project == exported
    assert ye.catalog.get("uni-hpc") == amir.catalog.get("uni-hpc")
    assert [b.name for b in project.blueprints] == ["shared"]
    written = ye.projects.blueprint_dir("cms") / "shared.toml"
    assert (await ye.load_blueprint(written)) == (await amir.load_blueprint(tmp_path / "shared.toml"))
    imported = await ye.allocation("uni")
    assert (imported.state, imported.owner, imported.account, imported.login, imported.key_path) == (AllocationState.NEEDS_LOGIN, "Amir", "phy123", None, None)
    assert any("needs your login" in line for line in report)
    claimed, _ = await ye.access.create("uni", "uni-hpc", "ye")
    assert (claimed.state, claimed.login, claimed.account) == (AllocationState.NEW, "ye", "phy123")
    _, again = await ye.projects.import_file(tmp_path / "cms.toml")
    assert "allocation uni: yours kept (new)" in again and (await ye.allocation("uni")).login == "ye"


async def test_project_edits_keep_it_consistent(home: Path, tmp_path: Path, new_engine: Callable[..., Engine]) -> None:
    amir = await amir_with_a_project(new_engine, home, tmp_path)
    with pytest.raises(ProjectError, match="Amir owns uni"):
        await amir.projects.remove_member("cms", "Amir")
    with pytest.raises(ProjectError, match="blueprints shared of cms draw pilots from uni"):
        await amir.projects.remove_allocation("cms", "uni")
    with pytest.raises(ProjectError, match="Max is not a member"):
        await amir.projects.add_allocation("cms", "uni", owner="Max")
    with pytest.raises(ProjectError, match="`local` is every member's own machine"):
        await amir.projects.add_allocation("cms", "local")
    project = await amir.projects.remove_member("cms", "Ye")
    assert [m.name for m in project.members] == ["Amir"]


def test_a_broken_project_file_names_each_line(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "cms"\n\n[[members]]\nname = "Amir"\n\n[[allocations]]\nname = "uni"\nresource = "uni-hpc"\nowner = "Nobody"\n\n[[members]]\nname = "Amir"\n')
    result = subprocess.run([sys.executable, "-m", "vc3tui", "project", "import", str(bad)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}:" in result.stderr and "members: Amir listed twice" in result.stderr
    with pytest.raises(FileErrors) as raised:
        from vc3tui.engine.projects import load_project

        bad.write_text(bad.read_text().rsplit("[[members]]", 1)[0])
        load_project(bad)
    assert [str(p) for p in raised.value.problems] == [f"{bad}:9: allocations[0].owner: 'Nobody' is not a member; add [[members]] name = 'Nobody'"]


def test_the_project_commands(home: Path, tmp_path: Path) -> None:
    def vc3(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vc3tui", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)

    blueprint = tmp_path / "local.toml"
    blueprint.write_text(SHARED.format(allocation="local"))
    assert vc3("project", "create", "cms", "--as", "Amir", "--description", "CMS analysis", "--blueprint", str(blueprint)).returncode == 0
    added = vc3("project", "add-member", "cms", "Ye", "--email", "ye@uni.example", "--key-fingerprint", "SHA256:" + "A" * 43)
    assert added.returncode == 0, added.stderr
    refused = vc3("project", "add-member", "cms", "Max", "--key-fingerprint", "ssh-ed25519 AAAA")
    assert refused.returncode == 2 and "is not a valid key fingerprint" in refused.stderr
    assert vc3("project", "add-allocation", "cms", "local").stderr.strip() == "vc3tui: `local` is every member's own machine; it is not shared"
    assert vc3("project", "export", "cms", str(tmp_path / "cms.toml")).returncode == 0
    shown = vc3("project", "show", "cms").stdout
    assert "Ye <ye@uni.example>" in shown and "shared (dask, 1 workers on local)" in shown
    listed = vc3("project", "list").stdout.splitlines()
    assert listed[1].split()[:5] == ["cms", "2", "0", "1", "0"]
    missing = vc3("cluster", "join", "physics")
    assert missing.returncode == 2 and "no shared cluster 'physics' to join" in missing.stderr


@pytest.fixture
def members(cluster_home: Path, builder_cache: Path, tmp_path: Path, new_engine: Callable[..., Engine]):
    """Amir's data dir and Ye's, two members on one machine, sharing the builder cache; whatever
    Ye's clusters started is stopped by pid at the end (Amir's by cluster_home)."""
    ye_home = tmp_path / "ye"
    (ye_home / "cache").mkdir(parents=True)
    (ye_home / "cache" / "builder").symlink_to(builder_cache)
    amir, ye = new_engine(dirs_at(cluster_home), interactive=False), new_engine(dirs_at(ye_home), interactive=False)
    amir.projects.call_me("Amir")
    ye.projects.call_me("Ye")
    yield amir, ye
    stop_recorded_processes(ye_home)


@pytest.mark.timeout(600)
async def test_two_members_put_pilots_into_one_shared_cluster(members, tmp_path: Path) -> None:
    amir, ye = members
    cluster_home, ye_home = amir.dirs.data.parent, ye.dirs.data.parent
    blueprint = tmp_path / "shared.toml"
    blueprint.write_text(SHARED.format(allocation="local"))
    await amir.projects.create("cms", blueprints=[blueprint])
    cluster = await amir.launch(await amir.load_blueprint(blueprint))
    row = await amir.wait_for(cluster.id, lambda r: r.counts.joined == 1, 300)
    await amir.export_project("cms", tmp_path / "cms.toml")

    project, _ = await ye.projects.import_file(tmp_path / "cms.toml")
    assert [(c.name, c.owner, c.address) for c in project.clusters] == [("shared", "Amir", row.cluster.head.address)]
    joined = await ye.join("shared", allocations=["local"], workers=1)
    assert joined.blueprint.head.address == row.cluster.head.address and joined.head is None
    # a pilot of a cluster with someone else's head counts as joined once its worker started
    # (there is no manager of its own to ask); the scheduler lists it once it registered
    await ye.wait_for(joined.id, lambda r: r.counts.joined == 1, 300)

    def both() -> list[str] | None:
        reply = httpx.get(f"http://127.0.0.1:{row.cluster.head.ports['http']}/api/v1/get_workers", timeout=5)
        names = sorted(w["name"] for w in reply.json()["workers"])
        return names if len(names) == 2 else None

    names = await wait_until_async(both, 60, "both members' workers in the scheduler")
    assert {amir.installation_id, ye.installation_id} == {name.split("-")[1] for name in names}, names

    await ye.terminate(joined.id)
    await ye.wait_for(joined.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    await amir.terminate(cluster.id)
    await amir.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    assert leftovers(cluster_home) == {} and leftovers(ye_home) == {}


WQ_SHARED = """name = "sharedwq"
middleware = "workqueue"

[workers]
count = 1
walltime = "20m"
idle_timeout = "1m"

[head]
listen = "127.0.0.1"

[[allocations]]
name = "local"
"""


@pytest.mark.timeout(600)
@pytest.mark.skipif(not shutil.which("work_queue_worker"), reason="cctools is not installed (tests/testbed/install-packages)")
async def test_a_join_ticket_lets_a_teammates_workers_into_a_password_cluster(members, tmp_path: Path) -> None:
    amir, ye = members
    cluster_home, ye_home = amir.dirs.data.parent, ye.dirs.data.parent
    manager = None
    log = tmp_path / "tasks.log"
    try:
        blueprint = tmp_path / "sharedwq.toml"
        blueprint.write_text(WQ_SHARED)
        await amir.projects.create("cms", blueprints=[blueprint])
        cluster = await amir.launch(await amir.load_blueprint(blueprint))
        row = await amir.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING, 120)
        env = {**os.environ, **WorkQueueMiddleware().client_environment(row.cluster)}
        manager = subprocess.Popen(
            ["/usr/bin/python3", str(ROOT / "tests" / "blueprints" / "wq_manager.py"), str(log), "8", "3"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        await amir.wait_for(cluster.id, lambda r: r.counts.joined == 1, 180)
        await amir.export_project("cms", tmp_path / "cms.toml")
        secrets = await amir.invite("sharedwq", tmp_path / "ticket.toml")
        assert secrets == ["wq-password"] and oct((tmp_path / "ticket.toml").stat().st_mode & 0o777) == "0o600"
        password = (cluster_home / "data" / "clusters" / cluster.id / "secrets" / "wq-password").read_bytes()

        project, _ = await ye.projects.import_file(tmp_path / "cms.toml")
        assert project.clusters[0].ticket and project.clusters[0].address == f"127.0.0.1:{row.cluster.head.ports['manager']}"
        with pytest.raises(ProjectError, match="ask Amir for a join ticket"):
            await ye.join("sharedwq", allocations=["local"], workers=1)
        joined = await ye.join("sharedwq", allocations=["local"], workers=1, ticket=tmp_path / "ticket.toml")
        unpacked = ye_home / "data" / "tickets" / "sharedwq"
        assert (unpacked / "wq-password").read_bytes() == password
        assert oct(unpacked.stat().st_mode & 0o777) == "0o700" and oct((unpacked / "wq-password").stat().st_mode & 0o777) == "0o600"
        await ye.wait_for(joined.id, lambda r: r.counts.joined == 1, 180)

        out, err = await asyncio.to_thread(manager.communicate, timeout=300)
        assert [json.loads(line)["status"] for line in out.splitlines()] == [0] * 8, err
        tags = {line.split()[2] for line in log.read_text().splitlines()}
        assert {tag.split("-")[1] for tag in tags} == {amir.installation_id, ye.installation_id}, tags

        await ye.terminate(joined.id, peaceful=False)
        await ye.wait_for(joined.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        await amir.terminate(cluster.id, peaceful=False)
        await amir.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        assert leftovers(cluster_home) == {} and leftovers(ye_home) == {}
    finally:
        if manager is not None and manager.poll() is None:
            manager.kill()


async def test_a_ticket_for_another_cluster_or_with_odd_secrets_is_refused(home: Path, tmp_path: Path, new_engine: Callable[..., Engine]) -> None:
    ye = new_engine(dirs_at(home), interactive=False)
    project = Project(
        name="cms", members=[Member(name="Amir")],
        blueprints=[Blueprint.model_validate({"name": "wq", "middleware": "workqueue", "allocations": [{"name": "local"}]})],
        clusters=[SharedCluster(name="wq", blueprint="wq", owner="Amir", middleware="workqueue", address="10.0.0.5:9123", ticket=True)],
    )  # fmt: skip
    await ye.store.run(Store.put_project, project)
    ticket = tmp_path / "ticket.toml"
    ticket.write_text('cluster = "other"\nmiddleware = "workqueue"\naddress = "10.0.0.5:9123"\n')
    with pytest.raises(ProjectError, match="is a ticket for workqueue cluster other, not for workqueue cluster wq"):
        await ye.join("wq", ticket=ticket)
    ticket.write_text('cluster = "wq"\nmiddleware = "workqueue"\naddress = "10.0.0.5:9123"\n[secrets]\n"../../evil" = "eA=="\n')
    with pytest.raises(ProjectError, match=r"\.\./\.\./evil is not a secret of workqueue workers"):
        await ye.join("wq", ticket=ticket)
    assert not (home / "data" / "evil").exists() and not list((home / "data").glob("tickets/*/*"))

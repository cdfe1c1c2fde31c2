"""The Engine facade in-process on real local clusters: resize both ways, leases, events."""

from __future__ import annotations

from collections.abc import Callable

import asyncio
import os
from pathlib import Path

import pytest

from vc3tui.engine.blueprint import resolve_environment
from vc3tui.engine.engine import Engine, EngineError
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState, PilotState
from vc3tui.engine.store import Store

from tests.factories import cluster as cluster_model
from tests.processes import leftovers

pytestmark = pytest.mark.timeout(600)


def dask_blueprint(count: int) -> Blueprint:
    return Blueprint(
        name="resizer",
        middleware=MiddlewareKind.DASK,
        environment=Environment(pip=["dask[distributed]"]),
        workers=WorkerSpec(count=count, walltime=1200),
        allocations=[AllocationUse(name="local")],
    )


async def test_resize_up_peaceful_down_and_at_once(cluster_home: Path, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(Dirs.from_environment())
    events = []

    async def collect() -> None:
        async for event in engine.events():
            events.append(event)

    collector = asyncio.create_task(collect())
    try:
        cluster = await engine.launch(dask_blueprint(1))
        with pytest.raises(EngineError, match="already running"):
            await engine.launch(dask_blueprint(1))
        await engine.wait_for(cluster.id, lambda r: r.counts.joined == 1, 540)

        await engine.resize(cluster.id, 3)
        await engine.wait_for(cluster.id, lambda r: r.counts.joined == 3, 120)
        oldest = (await engine.pilots(cluster.id))[0]

        await engine.resize(cluster.id, 1, peaceful=True)
        await engine.wait_for(cluster.id, lambda r: r.counts.running == 1 and r.counts.queued == 0, 120)
        pilots = await engine.pilots(cluster.id)
        drained = [p for p in pilots if p.state is PilotState.DONE]
        assert len(drained) == 2 and all(p.exit_code == 0 for p in drained), [(p.index, p.exit_code, p.reason) for p in pilots]
        assert [p.index for p in pilots if p.state is PilotState.RUNNING] == [oldest.index]

        await engine.resize(cluster.id, 2)
        await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2, 120)
        await engine.resize(cluster.id, 1, peaceful=False)
        await engine.wait_for(cluster.id, lambda r: r.counts.running == 1, 60)
        cancelled = [p for p in await engine.pilots(cluster.id) if p.exit_code == 143]
        assert len(cancelled) == 1 and cancelled[0].index == 3 and cancelled[0].state is PilotState.DONE
        assert (await engine.status(cluster.id)).counts.error == 0

        await engine.terminate(cluster.id)
        row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
        assert row.counts.running == 0
    finally:
        collector.cancel()
        await engine.close()
    assert leftovers(cluster_home) == {}
    messages = [e.message for e in events]
    assert any(m.startswith("requesting 2 more workers") for m in messages)
    assert any("removing 2 pilots" in m and "peaceful" in m for m in messages)
    assert any("removing 1 pilot " in m and "at once" in m for m in messages)


async def test_another_process_writes_the_size_the_lease_holder_acts(cluster_home: Path, new_engine: Callable[..., Engine]) -> None:
    owner, other = new_engine(Dirs.from_environment()), new_engine(Dirs.from_environment())
    other.lease.owner = "elsewhere:1"
    cluster = await owner.launch(dask_blueprint(1))
    assert not await other.manage(cluster.id)
    await owner.wait_for(cluster.id, lambda r: r.counts.joined == 1, 540)
    await other.resize(cluster.id, 2)
    await owner.wait_for(cluster.id, lambda r: r.counts.joined == 2, 120)
    await other.terminate(cluster.id, peaceful=False)
    await owner.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    await other.close()
    await owner.close()
    assert leftovers(cluster_home) == {}


async def test_named_environment_is_copied_into_the_cluster(dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(dirs)
    engine.store.store.put_environment(Environment(name="team", pip=["six"]))
    blueprint = dask_blueprint(0).model_copy(update={"environment": Environment(name="team")})
    with pytest.raises(EngineError, match="unknown environment 'ghost'"):
        await engine.launch(blueprint.model_copy(update={"environment": Environment(name="ghost")}))
    resolved = resolve_environment(blueprint, await engine.environments())
    assert resolved.environment.pip == ["six"]


async def test_lease_rules(dirs: Dirs, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(dirs)
    store: Store = engine.store.store
    host = os.uname().nodename
    store.put_cluster(cluster_model("aaaaaaaa"))
    assert store.acquire_lease("aaaaaaaa", f"{host}:{os.getpid()}-other", ttl=60)
    assert not await engine.lease.renew("aaaaaaaa")
    store.release_lease("aaaaaaaa", f"{host}:{os.getpid()}-other")
    dead = f"{host}:{2**22 + 12345}"
    assert store.acquire_lease("aaaaaaaa", dead, ttl=600)
    assert await engine.lease.renew("aaaaaaaa"), "a dead holder on this host is replaced at once"
    assert store.lease_holder("aaaaaaaa") == engine.lease.owner
    store.release_lease("aaaaaaaa", engine.lease.owner)
    assert store.acquire_lease("aaaaaaaa", "some-other-host:1", ttl=600)
    assert not await engine.lease.renew("aaaaaaaa"), "a holder elsewhere keeps its lease until it expires"
    assert store.acquire_lease("aaaaaaaa", "some-other-host:1", ttl=-1)
    assert await engine.lease.renew("aaaaaaaa")


async def test_failed_head_fails_the_cluster_with_its_own_words(cluster_home: Path, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(Dirs.from_environment())
    blueprint = dask_blueprint(1).model_copy(update={"environment": Environment(pip=["no-such-package-vc3tui-test==0.0.1"])})
    cluster = await engine.launch(blueprint)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.FAILED, 300)
    assert row.cluster.reason.startswith("head exited (status 1) while building: ")
    assert "no-such-package-vc3tui-test" in row.cluster.reason
    await engine.terminate(cluster.id)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 60)
    await engine.close()
    assert leftovers(cluster_home) == {}

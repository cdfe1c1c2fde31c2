"""A JupyterLab head beside the middleware's manager (Dask, Work Queue) answers HTTP with its token,
and only with it."""

from __future__ import annotations

from collections.abc import Callable

import shutil
from pathlib import Path

import httpx
import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadSpec, MiddlewareKind, WorkerSpec
from vc3tui.engine.paths import Dirs
from vc3tui.engine.states import ClusterState

from tests.processes import leftovers

pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("middleware", [MiddlewareKind.DASK, MiddlewareKind.WORKQUEUE])
async def test_jupyter_head_needs_its_token(cluster_home: Path, middleware: MiddlewareKind, new_engine: Callable[..., Engine]) -> None:
    if middleware is MiddlewareKind.WORKQUEUE and not shutil.which("catalog_server"):
        pytest.skip("cctools is not installed (tests/testbed/install-packages)")
    engine = new_engine(Dirs.from_environment())
    blueprint = Blueprint(
        name="notebook",
        middleware=middleware,
        environment=Environment(pip=["dask[distributed]", "jupyterlab"]),
        workers=WorkerSpec(count=1, walltime=1200),
        allocations=[AllocationUse(name="local")],
        head=HeadSpec(jupyter=True),
    )
    cluster = await engine.launch(blueprint)
    # Work Queue workers join only the user's manager, which this test does not run
    wanted = 0 if middleware is MiddlewareKind.WORKQUEUE else 1
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.RUNNING and r.counts.joined == wanted, 840)
    assert row.cluster.state is ClusterState.RUNNING, row.cluster.reason
    url = dict(await engine.head_links(cluster.id))["jupyter"]
    port, token = row.cluster.head.ports["jupyter"], url.split("token=")[1]
    token_file = Path(row.cluster.head.workdir) / "secrets" / "jupyter-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/api/status", headers={"Authorization": f"token {token}"}).status_code == 200
    assert httpx.get(f"{base}/api/status").status_code == 403
    assert httpx.get(f"{base}/api/status", headers={"Authorization": "token wrong"}).status_code == 403
    events = [e.message for e in await engine.store.run(lambda s: s.events(cluster.id))]
    assert any(m.startswith(f"JupyterLab at {base}/lab") for m in events)
    assert not any(token in m for m in events), "the token is never stored in events"
    await engine.terminate(cluster.id)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)
    await engine.close()
    assert leftovers(cluster_home) == {}

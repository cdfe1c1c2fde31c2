"""Beyond loopback the Dask scheduler speaks TLS with the cluster's own CA; plain TCP is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.middleware.dask import DaskMiddleware
from vc3tui.engine.models import Head

from tests.factories import cluster as cluster_model

pytestmark = pytest.mark.timeout(180)


async def test_scheduler_beyond_loopback_requires_the_cluster_ca(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    dask, executor, cluster = DaskMiddleware(), LocalExecutor(), cluster_model()
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    for name, content in dask.secrets(cluster, "/unused", "0.0.0.0").items():
        await executor.put(content, str(secrets / name), mode=0o600)
    assert sorted(p.name for p in secrets.iterdir()) == ["tls-ca.pem", "tls-cert.pem", "tls-key.pem"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in secrets.iterdir())
    assert dask.secrets(cluster, "/unused", "127.0.0.1") == {}

    launch = dask.head_launch(cluster, str(tmp_path), "0.0.0.0")
    assert "--protocol" in launch.argv and "tls" in launch.argv
    env = {**launch.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    groups = []
    try:
        groups.append(await executor.spawn(launch.argv, log_path=str(tmp_path / "scheduler.log"), env=env))
        for _ in range(150):
            located = await dask.locate(executor, str(tmp_path), "0.0.0.0")
            if located and "http" in located.ports:  # the address comes first, the API once it runs
                break
            await asyncio.sleep(0.1)
        assert located and located.address.startswith("tls://")
        port = located.address.rsplit(":", 1)[1]
        head = cluster.head = Head(address=f"tls://127.0.0.1:{port}", ports=dict(located.ports), workdir=str(tmp_path))
        worker = dask.worker_command(cluster, head, "vc3-feedfacecafe-0123abcd-0", str(secrets))
        assert "--tls-ca-file" in worker
        groups.append(await executor.spawn(worker, log_path=str(tmp_path / "worker.log"), env=env))
        for _ in range(150):
            if [w.tag for w in await dask.workers(executor, head)] == ["vc3-feedfacecafe-0123abcd-0"]:
                break
            await asyncio.sleep(0.1)
        assert [w.tag for w in await dask.workers(executor, head)] == ["vc3-feedfacecafe-0123abcd-0"]
        assert await dask.ready(executor, head)
        assert await dask.demand(executor, cluster) >= 0

        client_env = {**os.environ, **dask.client_environment(cluster)}
        probe = "from distributed import Client\nwith Client(timeout=10) as c: print(c.submit(sum, [1, 2]).result())"
        with_ca = await asyncio.create_subprocess_exec(sys.executable, "-c", probe, env=client_env, stdout=asyncio.subprocess.PIPE)
        assert (await with_ca.communicate())[0].strip() == b"3"
        plain = {**os.environ, "DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{port}"}
        without = await asyncio.create_subprocess_exec(
            sys.executable, "-c", probe, env=plain, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await without.communicate()
        assert without.returncode != 0
    finally:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

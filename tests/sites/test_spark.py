"""Spark standalone with real pyspark (the `spark` extra) and Java: the master on a local head, two
pilots' workers join with the cluster's secret, a real pyspark job runs as the entry point, and a
worker without the secret is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.middleware.spark import CONF_FILE, SparkMiddleware
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadSpec, MiddlewareKind, WorkerSpec
from vc3tui.engine.states import ClusterState

from tests.waiting import wait_until

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not shutil.which("java"), reason="no Java (tests/testbed/install-packages installs it)"),
]
SPARK_CLASS = Path(sys.prefix) / "bin" / "spark-class"

JOB = """
import json, os
from pyspark.sql import SparkSession
spark = SparkSession.builder.master(os.environ["VC3_SPARK_MASTER"]).appName("vc3-test").getOrCreate()
sc = spark.sparkContext
squares = sc.parallelize(range(1000), 8).map(lambda x: x * x).sum()
executors = sc.parallelize(range(8), 8).map(lambda _: os.environ.get("VC3_PILOT_TAG", "")).distinct().collect()
print(json.dumps({"sum": squares, "pilots": sorted(executors)}))
spark.stop()
"""


@pytest.fixture
def spark_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyspark as the environment: the `spark` extra installed in this venv, found on PATH."""
    if not SPARK_CLASS.exists():
        pytest.skip("pyspark is not installed (scripts/setup test)")
    monkeypatch.setenv("PATH", f"{SPARK_CLASS.parent}:{os.environ['PATH']}")


async def test_spark_workers_join_and_run_a_job(cluster_home: Path, spark_path: None, tmp_path: Path, engine: Engine) -> None:
    blueprint = Blueprint(
        name="spark",
        middleware=MiddlewareKind.SPARK,
        environment=Environment(require=["pyspark"]),  # the system's: this venv's, on PATH
        workers=WorkerSpec(count=2, memory_mb=1024, walltime=1800),
        allocations=[AllocationUse(name="local")],
        head=HeadSpec(listen="127.0.0.1"),
    )
    cluster = await engine.launch(blueprint)
    row = await engine.wait_for(cluster.id, lambda r: r.counts.joined == 2 or r.cluster.state is ClusterState.FAILED, 180)
    assert row.counts.joined == 2, row.cluster.reason
    head = row.cluster.head
    assert head.address.startswith("spark://127.0.0.1:")
    site = engine.sites.head_site(row.cluster)
    alive = await SparkMiddleware().workers(site.executor, head)
    assert len(alive) == 2, "the master's own JSON lists both workers"

    conf = Path(site.workdir) / "secrets" / CONF_FILE
    assert conf.stat().st_mode & 0o777 == 0o600
    secret = next(line.split()[1] for line in conf.read_text().splitlines() if line.startswith("spark.authenticate.secret"))
    commands = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert secret not in commands, "the secret never appears on a command line"

    out = tmp_path / "job.out"
    with out.open("wb") as sink:
        code = await engine.run_entry(cluster.id, ["python3", "-c", JOB], tmp_path, stdout=sink.fileno(), stderr=sys.stderr.fileno())
    result = json.loads(out.read_text().splitlines()[-1])
    assert code == 0 and result["sum"] == sum(x * x for x in range(1000))
    assert set(result["pilots"]) <= {p.tag for p in await engine.pilots(cluster.id)}

    # a worker without the cluster's secret is refused by the master
    log = tmp_path / "intruder.log"
    with log.open("wb") as sink:
        intruder = subprocess.Popen(
            [str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", head.address, "--host", "127.0.0.1",
             "--webui-port", "0", "--work-dir", str(tmp_path / "intruder")],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: "Failed to connect to master" in log.read_text(), 90, "the master refusing the intruder")
        assert "Expected SaslMessage" in log.read_text() and "Successfully registered" not in log.read_text()
        assert len(await SparkMiddleware().workers(site.executor, head)) == 2
    finally:
        os.killpg(intruder.pid, 9)
        intruder.wait()

    await engine.terminate(cluster.id)
    await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED, 120)

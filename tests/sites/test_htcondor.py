"""HTCondor's configuration, checked by HTCondor's own parsers (the PyPI `htcondor` wheel):
`htcondor2.param` reads each generated file through CONDOR_CONFIG in a fresh process, and the
START, shutdown and drain expressions are evaluated by `classad2` against job and slot ads. The
daemons run for real in test_htcondor_glideins.py; here, a launch on a machine that has no
HTCondor and no tarball for it must fail with a clear reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import classad2
import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.middleware.htcondor import (
    HEAD_CONFIG,
    HEAD_START,
    MASTER_SHUTDOWN,
    POOL_KEY,
    START,
    WORKER_CONFIG,
    WORKER_START,
    HTCondorMiddleware,
    parse_held,
    parse_jobs,
    parse_workers,
    tag_constraint,
)
from vc3tui.engine.models import AllocationUse, Blueprint, Cluster, MiddlewareKind, WorkerSpec
from vc3tui.engine.states import ClusterState

READ_PARAMS = "import htcondor2, json, sys; print(json.dumps({n: htcondor2.param.get(n) for n in sys.argv[1:]}))"


def params(config: Path, names: list[str], **env: str) -> dict:
    """What HTCondor itself reads from `config`; a parse error fails the test with its message."""
    result = subprocess.run(
        [sys.executable, "-c", READ_PARAMS, *names], env={**os.environ, "CONDOR_CONFIG": str(config), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def cluster() -> Cluster:
    blueprint = Blueprint(
        name="pool",
        middleware=MiddlewareKind.HTCONDOR,
        workers=WorkerSpec(count=2, cores=2, memory_mb=3000, idle_timeout=600, walltime=7200),
        allocations=[AllocationUse(name="local")],
    )
    return Cluster(id="abcdef12", name="pool", blueprint=blueprint)


@pytest.fixture
def head_dir(tmp_path: Path, cluster: Cluster) -> Path:
    """A head's working dir as the head leaves it after start (secrets, collector.config)."""
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "condor").mkdir()
    for name, content in HTCondorMiddleware().secrets(cluster, str(tmp_path), "127.0.0.1").items():
        (tmp_path / "secrets" / name).write_bytes(content)
    (tmp_path / "condor" / "collector.config").write_text("COLLECTOR_HOST = 127.0.0.1:9618\nVC3_OWNER = alice\n")
    return tmp_path


def test_head_configuration_as_htcondor_reads_it(head_dir: Path) -> None:
    found = params(
        head_dir / "secrets" / HEAD_CONFIG,
        ["DAEMON_LIST", "COLLECTOR_HOST", "SEC_DEFAULT_AUTHENTICATION", "SEC_DEFAULT_AUTHENTICATION_METHODS",
         "SEC_DEFAULT_ENCRYPTION", "SEC_TOKEN_POOL_SIGNING_KEY_FILE", "ALLOW_ADVERTISE_STARTD", "ALLOW_WRITE",
         "ALLOW_ADMINISTRATOR", "TRUST_DOMAIN", "NETWORK_INTERFACE", "LOCAL_DIR", "USE_SHARED_PORT", "TCP_FORWARDING_HOST"],
    )  # fmt: skip
    assert found["DAEMON_LIST"] == "MASTER, COLLECTOR, NEGOTIATOR, SCHEDD"
    assert found["COLLECTOR_HOST"] == "127.0.0.1:9618" and found["NETWORK_INTERFACE"] == "127.0.0.1"
    assert (found["SEC_DEFAULT_AUTHENTICATION"], found["SEC_DEFAULT_ENCRYPTION"]) == ("REQUIRED", "REQUIRED")
    assert found["SEC_DEFAULT_AUTHENTICATION_METHODS"] == "FS, IDTOKENS"
    assert found["SEC_TOKEN_POOL_SIGNING_KEY_FILE"] == f"{head_dir}/secrets/{POOL_KEY}"
    assert found["ALLOW_ADVERTISE_STARTD"] == "vc3-worker@vc3-abcdef12", "only token-holding workers join"
    assert found["ALLOW_WRITE"] == found["ALLOW_ADMINISTRATOR"] == "alice@vc3-abcdef12, condor@vc3-abcdef12"
    assert found["TRUST_DOMAIN"] == "vc3-abcdef12" and found["LOCAL_DIR"] == f"{head_dir}/condor"
    assert found["USE_SHARED_PORT"] is True, "every daemon of the head behind the collector's one port (what a relay forwards)"
    assert found["TCP_FORWARDING_HOST"] is None, "a head placed nowhere in particular is advertised where it listens"


def test_worker_configuration_and_its_expressions(head_dir: Path) -> None:
    end = int(time.time()) + 600
    found = params(
        head_dir / "secrets" / WORKER_CONFIG,
        ["DAEMON_LIST", "COLLECTOR_HOST", "MASTER_NAME", "STARTD_NAME", "VC3_PILOT_TAG", "VC3_PILOT_END", "START", "NUM_CPUS", "MEMORY",
         "STARTD_NOCLAIM_SHUTDOWN", "MASTER.DAEMON_SHUTDOWN", "SEC_DEFAULT_AUTHENTICATION_METHODS",
         "SEC_TOKEN_DIRECTORY", "SEC_TOKEN_POOL_SIGNING_KEY_FILE", "CCB_ADDRESS", "USE_SHARED_PORT"],
        VC3_CONDOR_DIR="/scratch/p/condor", VC3_COLLECTOR="127.0.0.1:9618", VC3_PILOT_TAG="vc3-i-abcdef12-3", VC3_PILOT_END=str(end),
        VC3_CCB="127.0.0.1:9618",
    )  # fmt: skip
    assert found["DAEMON_LIST"] == "MASTER, STARTD" and found["COLLECTOR_HOST"] == found["CCB_ADDRESS"] == "127.0.0.1:9618"
    assert found["USE_SHARED_PORT"] is False
    assert found["MASTER_NAME"] == found["STARTD_NAME"] == "vc3-i-abcdef12-3" and found["VC3_PILOT_TAG"] == '"vc3-i-abcdef12-3"'
    assert (found["NUM_CPUS"], int(found["MEMORY"]), found["STARTD_NOCLAIM_SHUTDOWN"]) == (2, 3000, 600)
    assert found["SEC_DEFAULT_AUTHENTICATION_METHODS"] == "IDTOKENS" and found["SEC_TOKEN_DIRECTORY"] == "/scratch/p/condor/tokens.d"
    assert found["SEC_TOKEN_POOL_SIGNING_KEY_FILE"] is None or POOL_KEY not in found["SEC_TOKEN_POOL_SIGNING_KEY_FILE"]
    assert found["START"] == START and found["MASTER.DAEMON_SHUTDOWN"] == MASTER_SHUTDOWN

    slot = classad2.ClassAd({"VC3_PILOT_END": end})
    slot["Requirements"] = classad2.ExprTree(found["START"])

    def starts(job: dict) -> bool:
        ad = classad2.ClassAd(job)
        ad["Requirements"] = True
        return ad.matches(slot)

    assert starts({"MaxRuntime": 300}) and starts({}) and not starts({"MaxRuntime": 3600})
    shutdown = classad2.ExprTree(found["MASTER.DAEMON_SHUTDOWN"])
    assert shutdown.eval(classad2.ClassAd({"STARTD_StartTime": 0})) is True
    assert shutdown.eval(classad2.ClassAd({"STARTD_StartTime": int(time.time())})) is False


def test_drain_picks_the_drained_pilots_glideins_by_tag() -> None:
    expression = classad2.ExprTree(tag_constraint(["vc3-i-abcdef12-1", "vc3-i-abcdef12-2"]))
    picked = {tag: expression.eval(classad2.ClassAd({"VC3_PILOT_TAG": tag})) for tag in ("vc3-i-abcdef12-1", "vc3-i-abcdef12-2", "vc3-i-abcdef12-3")}
    assert picked == {"vc3-i-abcdef12-1": True, "vc3-i-abcdef12-2": True, "vc3-i-abcdef12-3": False}
    assert expression.eval(classad2.ClassAd({})) is False, "a daemon that is no glidein of ours is never picked"


def test_a_broken_configuration_is_caught(head_dir: Path) -> None:
    (head_dir / "condor" / "collector.config").unlink()
    result = subprocess.run(
        [sys.executable, "-c", READ_PARAMS, "DAEMON_LIST"], env={**os.environ, "CONDOR_CONFIG": str(head_dir / "secrets" / HEAD_CONFIG)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "collector.config" in result.stderr


def test_start_scripts_parse_and_status_outputs() -> None:
    for script in (HEAD_START, WORKER_START):
        assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    # condor_status -af prints one space-separated line per ad, "undefined" for a missing attribute
    workers = parse_workers("vc3-i-c-0 node1\nvc3-i-c-0 node1\nvc3-i-c-1 node2\nundefined node3\ngarbage\n")
    assert [(w.tag, w.address) for w in workers] == [("vc3-i-c-0", "node1"), ("vc3-i-c-1", "node2")]
    assert parse_jobs("1\n4\nundefined\n\n") == 6  # condor_q -af RequestCpus: one line per job
    # condor_q -af:t of held jobs: one tab-separated line per job, grouped by hold code and subcode
    failed = "Error from slot1@vc3-x@node1: Failed to execute '/nope': (errno=2: 'No such file or directory')"
    causes = [(6, 2, failed), (6, 2, failed.replace("node1", "node2")), (1, 0, "via condor_hold (by user alice)")] * 2
    held = "".join(f"7\t{n}\t{code}\t{sub}\t{why}\n" for n, (code, sub, why) in enumerate(causes))
    assert parse_held(held + "garbage\n") == [f"4 jobs held (7.0, 7.1, 7.3, …): {failed}", "2 jobs held (7.2, 7.5): via condor_hold (by user alice)"]


async def test_launch_without_htcondor_fails_with_a_reason(cluster_home: Path, engine: Engine) -> None:
    blueprint = Blueprint(
        name="pool", middleware=MiddlewareKind.HTCONDOR, workers=WorkerSpec(count=1), allocations=[AllocationUse(name="local")]
    )
    cluster = await engine.launch(blueprint)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.FAILED, 60)
    assert row.cluster.reason == (
        "software missing on this machine: could not add htcondor: nothing available; no condor_version on PATH; "
        "install it there, or name where it comes from in the environment; nothing was started"
    )
    assert row.cluster.head is None and await engine.pilots(cluster.id) == []
    assert not Path(engine.sites.head_site(row.cluster).workdir).exists(), "no secrets were made for a head never started"
    await engine.terminate(cluster.id, peaceful=False)

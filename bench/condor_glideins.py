"""Time from asking for 8 workers to 8 startds in the pool's collector, on the local SLURM:
vc3tui's glideins (a running HTCondor cluster resized from 0 to 8 over SSH: array submission,
wrapper, builder activation, condor_master, startd) against 8 bare `condor_startd`s that
`sbatch --array` starts at the same moment of SLURM's pass (the floor: no wrapper, no builder, no
master). Both join the same head (vc3tui's, on the login host) with the same configuration and
token, from the same relocatable HTCondor tarball, unpacked by the builder before the clock runs.

Joining needs no negotiation: a startd counts once its first ad reaches the collector, as
`condor_status` polled every 50 ms on the head shows it (the same poll for both sides).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.beds import Pacer, site_user, slurm_over_ssh  # noqa: E402
from bench.results import note, paired_ratio, record  # noqa: E402
from tests.slurm_site import slurm_allocation  # noqa: E402
from tests.testbed import condor, condor_tarball  # noqa: E402
from tests.testbed.sshd import USER  # noqa: E402
from vc3tui.engine.engine import Engine  # noqa: E402
from vc3tui.engine.middleware.htcondor import HEAD_CONFIG, WORKER_CONFIG, WORKER_TOKEN  # noqa: E402
from vc3tui.engine.models import AllocationUse, Blueprint, Head, HeadPlacement, HeadSpec, MiddlewareKind, WorkerSpec  # noqa: E402
from vc3tui.engine.paths import Dirs  # noqa: E402
from vc3tui.engine.states import ClusterState  # noqa: E402

WORKERS = 8
REPEATS = 8
FLOOR = """\
#!/bin/sh
. {head}/condor/tools.env
t=floor-{run}-$SLURM_ARRAY_TASK_ID d={scratch}/floor-{run}-$SLURM_ARRAY_TASK_ID
mkdir -p "$d/log" "$d/spool" "$d/execute" "$d/lock" "$d/run" "$d/tokens.d"
cp {head}/secrets/{token} "$d/tokens.d/worker"
export CONDOR_CONFIG={head}/secrets/{config} VC3_CONDOR_DIR="$d" VC3_COLLECTOR={collector} VC3_PILOT_TAG="$t"
export VC3_PILOT_END=$(( $(date +%s) + 1800 ))
exec condor_startd -f
"""


def startds(head: Head, prefix: str) -> set[str]:
    """The startds whose name starts with `prefix` that the head's collector lists."""
    script = f'. {head.workdir}/condor/tools.env && exec condor_status -startd -af Name'
    listed = subprocess.run(["runuser", "-u", USER, "--", "env", f"CONDOR_CONFIG={head.workdir}/secrets/{HEAD_CONFIG}", "sh", "-c", script],
                            capture_output=True, text=True)  # fmt: skip
    return {name for name in listed.stdout.split() if name.startswith(prefix)}


def joined_at(head: Head, prefix: str, before: set[str] = frozenset(), timeout: float = 60) -> float:
    """When the collector first listed WORKERS startds named `prefix`... not in `before` (epoch seconds)."""
    deadline = time.monotonic() + timeout
    while len(startds(head, prefix) - before) < WORKERS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {WORKERS} startds {prefix}* joined in {timeout:.0f} s: {sorted(startds(head, '') - before)}")
        time.sleep(0.05)
    return time.time()


async def glideins_once(engine: Engine, cluster_id: str, head: Head, pacer: Pacer, phase: float) -> float:
    before = await asyncio.to_thread(startds, head, "vc3-")  # earlier runs' ads, until they expire
    await asyncio.to_thread(pacer.wait, phase)
    started = time.time()
    await engine.resize(cluster_id, WORKERS)
    try:
        elapsed = await asyncio.to_thread(joined_at, head, "vc3-", before) - started
    except TimeoutError as exc:
        pilots = [(p.index, p.state.value, p.stage, p.reason) for p in await engine.pilots(cluster_id) if p.state.value not in ("done", "failed")]
        raise TimeoutError(f"{exc}; pilots not done: {pilots}") from None
    await engine.resize(cluster_id, 0, peaceful=False)
    await engine.wait_for(cluster_id, lambda r: r.counts.running + r.counts.queued == 0, 120)
    return elapsed


def floor_once(slurm, head: Head, scratch: Path, run: int, pacer: Pacer, phase: float) -> float:
    user = site_user(slurm)
    script = user.file(scratch / f"floor-{run}.sh", FLOOR.format(head=head.workdir, run=run, scratch=scratch, token=WORKER_TOKEN,
                                                                 config=WORKER_CONFIG, collector=head.address))  # fmt: skip
    pacer.wait(phase)
    started = time.time()
    submitted = subprocess.run(["sbatch", "--parsable", f"--array=0-{WORKERS - 1}", "--output=/dev/null", str(script)],
                               capture_output=True, text=True, cwd=scratch, **user.process())  # fmt: skip
    if submitted.returncode != 0:
        raise RuntimeError(f"sbatch of the floor failed: {submitted.stderr}")
    elapsed = joined_at(head, f"floor-{run}-") - started
    slurm.cancel_everything()
    return elapsed


async def measure(slurm, bed, tarball: Path) -> tuple[list[float], list[float]]:
    engine = Engine(Dirs.from_environment(), interactive=False)
    cluster_id = None
    try:
        allocation = await slurm_allocation(engine, bed, "pool")
        condor_tarball.offer(tarball, Path(allocation.workdir) / "builder", owner=USER)
        blueprint = Blueprint(name="bench-pool", middleware=MiddlewareKind.HTCONDOR, workers=WorkerSpec(count=1, walltime=1800, idle_timeout=600),
                              allocations=[AllocationUse(name="pool")], head=HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="pool"))  # fmt: skip
        cluster_id = (await engine.launch(blueprint)).id  # one glidein first, untimed: the builder unpacks the tarball
        row = await engine.wait_for(cluster_id, lambda r: r.counts.joined == 1 or r.cluster.state is ClusterState.FAILED, 300)
        if row.counts.joined != 1:
            raise RuntimeError(f"the pool did not start: {row.cluster.reason}")
        await engine.resize(cluster_id, 0, peaceful=False)
        await engine.wait_for(cluster_id, lambda r: r.counts.running + r.counts.queued == 0, 120)
        head = row.cluster.head
        scratch = Path(allocation.workdir) / "floor"
        scratch.mkdir()
        shutil.chown(scratch, USER, USER)
        pacer, ours, floor, dropped = Pacer(slurm), [], [], []
        phases = [(i + 0.5) / REPEATS for i in range(REPEATS)]
        random.Random(7).shuffle(phases)
        for run, phase in enumerate(phases):
            try:
                pair = (await glideins_once(engine, cluster_id, head, pacer, phase),
                        await asyncio.to_thread(floor_once, slurm, head, scratch, run, pacer, phase))  # fmt: skip
            except TimeoutError as exc:  # a repeat where either side lost a startd is left out, and said
                dropped.append(str(exc).split(":")[0])
                await engine.resize(cluster_id, 0, peaceful=False)
                await asyncio.to_thread(slurm.cancel_everything)
                continue
            ours.append(pair[0])
            floor.append(pair[1])
            print(f"  at {phase:.2f} of the pass: glideins {ours[-1]:.3f} s  bare startds {floor[-1]:.3f} s", flush=True)
        if dropped:
            note(f"HTCondor glideins: {len(dropped)} of {REPEATS} repeats left out, a startd missing after 60 s: {'; '.join(dropped)}")
        return ours, floor
    finally:
        if cluster_id:
            await engine.terminate(cluster_id, peaceful=False)
            await engine.wait_for(cluster_id, lambda r: r.cluster.state is ClusterState.TERMINATED, 180)
        await engine.close()


def main() -> int:
    reason = condor.usable() or condor_tarball.usable()
    if reason:
        note(f"HTCondor glidein benchmark skipped: {reason}")
        return 0
    tarball = condor_tarball.condor_tarball(condor.condor_root(ROOT / ".cache"), ROOT / ".cache")
    with slurm_over_ssh("vc3tui-bench-condor-") as (slurm, bed, _):
        ours, floor = asyncio.run(measure(slurm, bed, tarball))
    record(f"time to {WORKERS} HTCondor glideins joined (SLURM, over SSH)", ours, f"{WORKERS} bare condor_startds, sbatch --array", floor,
           unit="s", target="ratio <= 1.2", met=paired_ratio(ours, floor) <= 1.2, paired=True)  # fmt: skip
    note("HTCondor pool: NEGOTIATOR_INTERVAL 20 s (the head's), startds' first ad on start-up; joining needs no negotiation")
    return 0


if __name__ == "__main__":
    sys.exit(main())

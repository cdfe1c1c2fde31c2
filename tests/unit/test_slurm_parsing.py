"""The SLURM adapter's text handling: job scripts, squeue and sacct output, marker fallbacks."""

from __future__ import annotations

from vc3tui.engine.batch.slurm import (
    SlurmBatch,
    combine,
    parse_sacct,
    parse_squeue,
    walltime,
)
from vc3tui.engine.pilot import Markers
from vc3tui.engine.batch.jobs import compress, expand
from vc3tui.engine.interfaces import PilotShape, Submission
from vc3tui.engine.models import Pilot
from vc3tui.engine.tags import pilot_tag
from vc3tui.engine.states import PilotStage, PilotState

PREFIX = "vc3-feedfacecafe-0123abcd"


def pilots(*indexes: int) -> list[Pilot]:
    return [Pilot(cluster_id="0123abcd", allocation="a", index=i, tag=pilot_tag("feedfacecafe", "0123abcd", i)) for i in indexes]


def test_ranges_round_trip() -> None:
    assert compress([9, 3, 4, 5, 12, 13]) == "3-5,9,12-13"
    assert expand("3-5,9,12-13") == (3, 4, 5, 9, 12, 13)
    assert expand("junk,7") == (7,)


def test_walltime_rounds_up_to_minutes() -> None:
    assert walltime(3600) == "0-01:00:00"
    assert walltime(61) == "0-00:02:00"
    assert walltime(2 * 86400 + 90) == "2-00:02:00"


def test_job_script_has_shape_tags_and_quoted_values() -> None:
    submission = Submission(
        pilots=pilots(4, 5, 9),
        shape=PilotShape(cores=2, memory_mb=4000, disk_mb=1, walltime=7200, partition="debug", account="proj-1", options=("--qos=debug",)),
        workdir="/scratch/my dir/.vc3tui/clusters/0123abcd",
        builder=["sh", "b"],
        command=["true"],
    )
    script = SlurmBatch().render(submission, "/scratch/my dir/pilot-abc.sh")
    assert "#SBATCH --job-name=vc3feedfa4" in script
    assert f"#SBATCH '--comment=vc3tui {PREFIX} 4-5,9'" in script
    assert "#SBATCH --array=0-2" in script and "#SBATCH --cpus-per-task=2" in script
    assert "#SBATCH --mem=4000M" in script and "#SBATCH --time=0-02:00:00" in script
    assert "#SBATCH --partition=debug" in script and "#SBATCH --account=proj-1" in script
    assert "#SBATCH --qos=debug" in script
    assert "#SBATCH '--output=/scratch/my dir/.vc3tui/clusters/0123abcd/pilots/slurm-%A_%a.out'" in script
    assert "set -- 4 5 9" in script and f"set -- {PREFIX}-\"$1\"\n. '/scratch/my dir/pilot-abc.sh'" in script


SQUEUE = f"""\
120_0|RUNNING|None|vc3tui {PREFIX} 4-5,9|node01
120_1|PENDING|Priority|vc3tui {PREFIX} 4-5,9|
120_2|PENDING|JobHeldUser|vc3tui {PREFIX} 4-5,9|
121_0|RUNNING|None|vc3tui vc3-otherinstall-0123abcd 0|node02
99|RUNNING|None|someone else's job|node03
garbage line
120_7|RUNNING|None|vc3tui {PREFIX} 4-5,9|node01
"""


def test_squeue_keeps_only_our_jobs_mapped_to_tags() -> None:
    found = parse_squeue(SQUEUE, {PREFIX})
    assert found == {
        f"{PREFIX}-4": ("120_0", "RUNNING", "None", "node01"),
        f"{PREFIX}-5": ("120_1", "PENDING", "Priority", ""),
        f"{PREFIX}-9": ("120_2", "PENDING", "JobHeldUser", ""),
    }


def test_states_with_native_reasons() -> None:
    found = parse_squeue(SQUEUE, {PREFIX})
    running = combine(found[f"{PREFIX}-4"], Markers("t", True, stage=PilotStage.READY))
    assert (running.state, running.stage, running.host, running.job_id) == (PilotState.RUNNING, PilotStage.READY, "node01", "120_0")
    queued = combine(found[f"{PREFIX}-5"], None)
    assert (queued.state, queued.reason) == (PilotState.QUEUED, "Priority")
    assert combine(found[f"{PREFIX}-9"], None).state is PilotState.HELD
    assert combine(("1_0", "TIMEOUT", "None", "n"), None).state is PilotState.FAILED
    assert combine(("1_0", "CANCELLED", "None", "n"), None).state is PilotState.DONE


def test_left_the_queue_uses_the_pilots_own_exit_marker() -> None:
    assert combine(None, Markers("t", True, exit_code=0, stage=PilotStage.WORKER_STARTED)).state is PilotState.DONE
    failed = combine(None, Markers("t", True, exit_code=2, stage=PilotStage.BUILDING))
    assert (failed.state, failed.stage, failed.reason) == (PilotState.FAILED, PilotStage.BUILDING, "exited with status 2")
    assert combine(None, Markers("t", True, exit_code=None)) is None
    assert combine(None, None) is None


def test_sacct_when_accounting_runs() -> None:
    found = parse_sacct("120_0|COMPLETED|0:0\n120_1|FAILED|1:0\n120_2|CANCELLED by 0|0:15\n120_3|TIMEOUT|0:0\nbad\n")
    assert found["120_0"].state is PilotState.DONE
    assert (found["120_1"].state, found["120_1"].exit_code) == (PilotState.FAILED, 1)
    assert found["120_2"].state is PilotState.DONE
    assert found["120_3"].state is PilotState.FAILED and "timeout" in found["120_3"].reason

"""PBS Pro, Torque, LSF, HTCondor and SGE parsers on output in the formats their documentation
shows: arrays, held and finished jobs, other people's jobs, and empty, truncated or garbage text.
Parsers never raise: what they cannot read, they leave out."""

from __future__ import annotations

import json

import pytest

from vc3tui.engine.batch.condor import CondorBatch, condor_status, parse_condor_q
from vc3tui.engine.batch.lsf import LSFBatch, lsf_status, parse_bjobs
from vc3tui.engine.batch.pbs import PBSBatch, our_subjobs, parse_qstat_full, pbs_status
from vc3tui.engine.batch.sge import SGEBatch, parse_qstat_xml, sge_status
from vc3tui.engine.pilot import Markers
from vc3tui.engine.interfaces import PilotShape, Submission
from vc3tui.engine.models import Pilot
from vc3tui.engine.tags import pilot_tag
from vc3tui.engine.states import PilotStage, PilotState

PREFIX = "vc3-feedfacecafe-0123abcd"
T = lambda i: f"{PREFIX}-{i}"  # noqa: E731
GARBAGE = ["", "\n\n", "garbage ]]> {{{", "Segmentation fault (core dumped)", "\x00\x01binary"]


def pilots(*indexes: int) -> list[Pilot]:
    return [Pilot(cluster_id="0123abcd", allocation="a", index=i, tag=pilot_tag("feedfacecafe", "0123abcd", i)) for i in indexes]


def submission(*indexes: int, cores: int = 2) -> Submission:
    return Submission(
        pilots=pilots(*indexes),
        shape=PilotShape(cores=cores, memory_mb=2000, disk_mb=500, walltime=5400, partition="short", account="proj1", options=("--x=1",)),
        workdir="/scratch/u/.vc3tui/clusters/0123abcd",
        builder=["sh", "b"],
        command=["true"],
    )


# ---- PBS Pro (qstat -f -F json -t) and Torque (qstat -f -t) ----

PBS_JSON = {
    "timestamp": 1700000000,
    "pbs_version": "2022.1.1",
    "Jobs": {
        "120[].pbs01": {"job_state": "B", "Variable_List": {"VC3TUI_PREFIX": PREFIX, "VC3TUI_INDEXES": "4-5:9"}},
        "120[0].pbs01": {"Job_Name": "vc3feedfa4", "job_state": "R", "exec_host": "n01/0",
                         "Variable_List": {"PBS_O_HOME": "/home/u", "VC3TUI_PREFIX": PREFIX, "VC3TUI_INDEXES": "4-5:9"}},
        "120[1].pbs01": {"job_state": "Q", "comment": "Not Running: Insufficient amount of resource: ncpus",
                         "Variable_List": {"VC3TUI_PREFIX": PREFIX, "VC3TUI_INDEXES": "4-5:9"}},
        "120[2].pbs01": {"job_state": "H", "Variable_List": {"VC3TUI_PREFIX": PREFIX, "VC3TUI_INDEXES": "4-5:9"}},
        "121[0].pbs01": {"job_state": "R", "Variable_List": {"VC3TUI_PREFIX": "vc3-otherinstall-0123abcd", "VC3TUI_INDEXES": "0"}},
        "99.pbs01": {"job_state": "R", "Variable_List": {"PBS_O_HOME": "/home/someone"}},
    },
}

TORQUE_TEXT = f"""\
Job Id: 77[0].torque.example.edu
    Job_Name = vc3feedfa0-0
    job_state = R
    exec_host = node12/3
    Variable_List = PBS_O_QUEUE=batch,PBS_O_HOME=/home/u,VC3TUI_PREFIX={PREFIX},VC3T
\tUI_INDEXES=0-1,PBS_ARRAYID=0
    comment = Job started on Mon Nov 24 at 10:00

Job Id: 77[1].torque.example.edu
    Job_Name = vc3feedfa0-1
    job_state = Q
    Variable_List = PBS_O_QUEUE=batch,VC3TUI_PREFIX={PREFIX},VC3TUI_INDEXES=0-1,PBS_ARRAYID=1

Job Id: 78.torque.example.edu
    Job_Name = someone_else
    job_state = R
"""


@pytest.mark.parametrize(
    "text,expected",
    [
        (json.dumps(PBS_JSON), {T(4): ("120[0].pbs01", "R", ""), T(5): ("120[1].pbs01", "Q", "Not Running: Insufficient amount of resource: ncpus"), T(9): ("120[2].pbs01", "H", "")}),
        (TORQUE_TEXT, {T(0): ("77[0].torque.example.edu", "R", "Job started on Mon Nov 24 at 10:00"), T(1): ("77[1].torque.example.edu", "Q", "")}),
        (json.dumps({"Jobs": {}}), {}),
        (json.dumps(PBS_JSON)[:200], {}),
        (TORQUE_TEXT[:60], {}),
        *[(g, {}) for g in GARBAGE],
    ],
    ids=["pbspro-json-array", "torque-text-wrapped", "empty-json", "truncated-json", "truncated-text", *[f"garbage{i}" for i in range(len(GARBAGE))]],
)
def test_pbs_listings(text: str, expected: dict) -> None:
    assert our_subjobs(parse_qstat_full(text), {PREFIX}) == expected


def test_pbs_states_and_finished_jobs() -> None:
    assert pbs_status(("1[0].s", "R", ""), Markers("t", True, stage=PilotStage.READY)).stage is PilotStage.READY
    assert pbs_status(("1[0].s", "E", ""), None).state is PilotState.RUNNING
    assert pbs_status(("1[0].s", "Q", "no nodes"), None).reason == "no nodes"
    assert pbs_status(("1[0].s", "H", ""), None).state is PilotState.HELD
    assert pbs_status(None, Markers("t", True, exit_code=3)).state is PilotState.FAILED
    assert pbs_status(None, None) is None


def test_pbs_pro_and_torque_scripts() -> None:
    pro = PBSBatch().render(submission(4, 5, 9), "/w/pilot.sh")
    assert "#PBS -J 0-2" in pro and "#PBS -l select=1:ncpus=2:mem=2000mb" in pro and "#PBS -l walltime=01:30:00" in pro
    assert f"#PBS -v VC3TUI_PREFIX={PREFIX},VC3TUI_INDEXES=4-5:9" in pro and 'shift "$PBS_ARRAY_INDEX"' in pro
    assert "#PBS -N vc3feedfa4" in pro and "#PBS -q short" in pro and "#PBS -A proj1" in pro
    assert "#PBS -J 0-1:2" in PBSBatch().render(submission(7))
    assert "#PBS -S /bin/sh" in pro  # the job's shell reads the sh wrapper, whatever the user's login shell
    torque = PBSBatch(torque=True).render(submission(4, 5, 9))
    assert "#PBS -t 0-2" in torque and "#PBS -l nodes=1:ppn=2" in torque and 'shift "$PBS_ARRAYID"' in torque


# ---- LSF (bjobs -o "jobid jobindex stat job_name exec_host pend_reason delimiter='|'" -noheader) ----

LSF = f"""\
3001|1|RUN|{PREFIX}.4-5_9[1]|hostA|-
3001|2|PEND|{PREFIX}.4-5_9[2]|-|Job's requirements for reserving resource (span) not satisfied
3001|3|USUSP|{PREFIX}.4-5_9[3]|hostB|-
3002|1|RUN|vc3-otherinstall-0123abcd.0[1]|hostC|-
2999|0|RUN|someone_else|hostD|-
"""


@pytest.mark.parametrize(
    "text,expected",
    [
        (LSF, {T(4): ("3001[1]", "RUN", "hostA", "-"), T(5): ("3001[2]", "PEND", "-", "Job's requirements for reserving resource (span) not satisfied"), T(9): ("3001[3]", "USUSP", "hostB", "-")}),
        (f"3001|2|DONE|{PREFIX}.4-5_9[2]|hostA|-\n3001|3|EXIT|{PREFIX}.4-5_9[3]|hostA|-\n", {T(5): ("3001[2]", "DONE", "hostA", "-"), T(9): ("3001[3]", "EXIT", "hostA", "-")}),
        (f"3001|7|RUN|{PREFIX}.4-5_9[7]|hostA|-\n", {}),
        ("No unfinished job found\n", {}),
        (LSF[:40], {}),
        *[(g, {}) for g in GARBAGE],
    ],
    ids=["array", "finished", "index-out-of-range", "none-left", "truncated", *[f"garbage{i}" for i in range(len(GARBAGE))]],
)
def test_lsf_listings(text: str, expected: dict) -> None:
    assert parse_bjobs(text, {PREFIX}) == expected


def test_lsf_states_and_script() -> None:
    assert lsf_status(("1[1]", "RUN", "hostA", "-"), None).host == "hostA"
    assert lsf_status(("1[1]", "PEND", "-", "-"), None).reason == ""
    assert lsf_status(("1[1]", "PSUSP", "-", "-"), None).state is PilotState.HELD
    assert lsf_status(("1[1]", "UNKWN", "-", "-"), None).state is PilotState.UNKNOWN
    assert lsf_status(("1[1]", "EXIT", "-", "-"), None).state is PilotState.FAILED
    assert lsf_status(("1[1]", "EXIT", "-", "-"), Markers("t", True, exit_code=143)).reason == "cancelled"
    script = LSFBatch().render(submission(4, 5, 9), "/w/pilot.sh")
    assert f"#BSUB -J '{PREFIX}.4-5_9[1-3]'" in script and "#BSUB -n 2" in script and "#BSUB -W 90" in script
    assert "#BSUB -M 2000MB" in script and 'shift "$((LSB_JOBINDEX - 1))"' in script and "#BSUB -q short" in script


# ---- HTCondor (condor_q -af:j JobStatus Vc3tuiTag RemoteHost HoldReason) ----

CONDOR = f"""\
501.0 2 {T(4)} slot1@exec01.example.edu undefined
501.1 1 {T(5)} undefined undefined
501.2 5 {T(9)} undefined Error from slot1@exec02: Failed to execute '/bin/sh': permission denied
502.0 2 vc3-otherinstall-0123abcd-0 slot2@exec01 undefined
"""


@pytest.mark.parametrize(
    "text,expected",
    [
        (CONDOR, {T(4): ("501.0", 2, "slot1@exec01.example.edu", ""), T(5): ("501.1", 1, "", ""),
                  T(9): ("501.2", 5, "", "Error from slot1@exec02: Failed to execute '/bin/sh': permission denied")}),  # fmt: skip
        (f"501.0 4 {T(4)} undefined undefined\n501.1 3 {T(5)} undefined undefined\n", {T(4): ("501.0", 4, "", ""), T(5): ("501.1", 3, "", "")}),
        (f"501.0 7 {T(4)} slot1@x undefined\n", {T(4): ("501.0", 7, "slot1@x", "")}),
        ("-- Schedd: submit.example.edu : <10.0.0.1:9618?...\n", {}),
        (CONDOR[:30], {}),
        *[(g, {}) for g in GARBAGE],
    ],
    ids=["procs", "finished", "suspended", "banner", "truncated", *[f"garbage{i}" for i in range(len(GARBAGE))]],
)
def test_condor_listings(text: str, expected: dict) -> None:
    assert parse_condor_q(text, {PREFIX}) == expected


def test_condor_states_and_submit_file() -> None:
    assert condor_status(("1.0", 2, "slot1@exec01", ""), None).host == "exec01"
    assert condor_status(("1.0", 1, "", ""), None).state is PilotState.QUEUED
    assert condor_status(("1.0", 5, "", "disk quota"), None).reason == "disk quota"
    assert condor_status(("1.0", 3, "", ""), None).reason == "removed"
    text = CondorBatch().render(submission(4, 5, 9), "/w/pilot.sh")
    assert "queue pilot_index in (4 5 9)" in text and f'+Vc3tuiTag = "{PREFIX}-$(pilot_index)"' in text
    assert "request_cpus = 2" in text and "request_memory = 2000" in text


# ---- SGE (qstat -xml) ----

SGE_XML = f"""<?xml version='1.0'?>
<job_info xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running"><JB_job_number>12</JB_job_number><JB_name>{PREFIX}</JB_name><state>r</state><tasks>5</tasks></job_list>
    <job_list state="running"><JB_job_number>12</JB_job_number><JB_name>{PREFIX}</JB_name><state>r</state><tasks>6</tasks></job_list>
  </queue_info>
  <job_info>
    <job_list state="pending"><JB_job_number>12</JB_job_number><JB_name>{PREFIX}</JB_name><state>qw</state><tasks>7-9:1</tasks></job_list>
    <job_list state="pending"><JB_job_number>13</JB_job_number><JB_name>{PREFIX}</JB_name><state>hqw</state><tasks>11</tasks></job_list>
    <job_list state="pending"><JB_job_number>14</JB_job_number><JB_name>someone</JB_name><state>qw</state></job_list>
  </job_info>
</job_info>
"""


@pytest.mark.parametrize(
    "text,expected",
    [
        (SGE_XML, {T(4): ("12.5", "r"), T(5): ("12.6", "r"), T(6): ("12.7", "qw"), T(7): ("12.8", "qw"), T(8): ("12.9", "qw"), T(10): ("13.11", "hqw")}),
        ("<job_info><queue_info/><job_info/></job_info>", {}),
        (SGE_XML[:300], {}),
        *[(g, {}) for g in GARBAGE],
    ],
    ids=["array", "empty", "truncated", *[f"garbage{i}" for i in range(len(GARBAGE))]],
)
def test_sge_listings(text: str, expected: dict) -> None:
    assert parse_qstat_xml(text, {PREFIX}) == expected


def test_sge_states_and_script() -> None:
    assert sge_status(("1.1", "Eqw"), None).state is PilotState.HELD
    assert sge_status(("1.1", "dr"), None).state is PilotState.RUNNING
    assert sge_status(("1.1", "qw"), None).state is PilotState.QUEUED
    script = SGEBatch().render(submission(4, 5, 9), "/w/pilot.sh")
    assert f"#$ -N {PREFIX}" in script and "#$ -pe smp 2" in script and "#$ -l h_rt=1:30:00" in script
    assert '"$((SGE_TASK_ID - 1))"' in script


def test_condor_submit_file_passes_htcondors_own_parser() -> None:
    htcondor2 = pytest.importorskip("htcondor2")
    classad2 = pytest.importorskip("classad2")
    text = CondorBatch().render(submission(4, 5, 9), "/w/it's pilot.sh")
    parsed = htcondor2.Submit(text)
    assert parsed.getQArgs() == "pilot_index in (4 5 9)"
    assert parsed["request_cpus"] == "2" and parsed["MY.Vc3tuiTag"] == f'"{PREFIX}-$(pilot_index)"'
    assert parsed["arguments"] == "\"/w/it''s pilot.sh vc3-feedfacecafe-0123abcd-$(pilot_index)\""
    classad2.ExprTree(parsed["periodic_remove"])

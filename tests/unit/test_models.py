"""Model rules: names, durations, the state machines, pilot tags."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vc3tui.engine.durations import format_duration, parse_duration
from vc3tui.engine.models import (
    Allocation,
    Cluster,
    Condition,
    Environment,
    Pilot,
    Resource,
)
from vc3tui.engine.tags import job_name, pilot_tag
from vc3tui.engine.states import (
    AllocationState,
    ClusterCondition,
    ClusterState,
    InvalidTransition,
    PilotState,
)

from tests.factories import blueprint


@pytest.mark.parametrize("name", ["a", "A-b_9", "x" * 64])
def test_good_names(name: str) -> None:
    assert Allocation(name=name, resource="local").name == name


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "semi;colon", "$(id)", "new\nline", "dot.ted", "ü"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="not a valid name"):
        Allocation(name=name, resource="local")


@pytest.mark.parametrize(
    "login", ["bob;rm -rf ~", "$(touch /tmp/x)", "`id`", "a'b", 'a"b', "a\nb", "-oProxyCommand=x"]
)
def test_logins_with_shell_metacharacters_are_refused(login: str) -> None:
    with pytest.raises(ValidationError, match="not a valid login"):
        Allocation(name="a", resource="local", login=login)


def test_partition_with_shell_metacharacters_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a valid batch system value"):
        Resource(name="r", batch="slurm", partition="debug; scancel -u me")


@pytest.mark.parametrize("option", ["--qos=debug; rm -rf ~", "--x=$(id)", "--x=`id`", "-x 'y'", "--a=b\n--c"])
def test_extra_batch_options_with_metacharacters_are_refused(option: str) -> None:
    with pytest.raises(ValidationError, match="not a valid batch option"):
        Resource(name="r", batch="slurm", batch_options=[option])
    assert Resource(name="r", batch="slurm", batch_options=["--qos=debug", "--constraint=haswell"]).batch_options


def test_environment_variable_names_are_checked() -> None:
    assert Environment(variables={"OMP_NUM_THREADS": "1"}).variables["OMP_NUM_THREADS"] == "1"
    with pytest.raises(ValidationError, match="not an environment variable name"):
        Environment(variables={"A;B": "1"})


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d12h", 129600), ("02:00:00", 7200), ("1-12:00:00", 129600), ("10:30", 37800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2 hours", "h", "1h2x", "10:75", "-1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_duration_round_trip() -> None:
    assert format_duration(5400) == "1h30m"
    assert parse_duration(format_duration(129601)) == 129601


def test_cluster_lifecycle() -> None:
    cluster = Cluster(id="0123abcd", name="c", blueprint=blueprint())
    for state in (ClusterState.STARTING_HEAD, ClusterState.RUNNING, ClusterState.TERMINATING, ClusterState.TERMINATED):
        cluster.move(state, f"now {state}")
    assert cluster.state is ClusterState.TERMINATED
    with pytest.raises(InvalidTransition):
        cluster.move(ClusterState.RUNNING, "back from the dead")


def test_failed_cluster_can_still_be_terminated() -> None:
    cluster = Cluster(id="0123abcd", name="c", blueprint=blueprint(), state=ClusterState.RUNNING)
    cluster.move(ClusterState.FAILED, "head died")
    cluster.move(ClusterState.TERMINATING, "cleaning up pilots")
    with pytest.raises(InvalidTransition):
        Cluster(id="0123abcd", name="c", blueprint=blueprint(), state=ClusterState.RUNNING).move(
            ClusterState.NEW, "x"
        )


def test_scaling_is_a_condition_not_a_state() -> None:
    assert "resizing" not in {s.value for s in ClusterState}
    cluster = Cluster(id="0123abcd", name="c", blueprint=blueprint(), state=ClusterState.RUNNING)
    cluster.conditions = [Condition(kind=ClusterCondition.SCALING_UP, reason="requesting 114 more workers")]
    assert cluster.state is ClusterState.RUNNING
    with pytest.raises(ValidationError, match="one allocation"):
        Condition(kind=ClusterCondition.BACKED_OFF, reason="sbatch: error")
    assert Condition(kind=ClusterCondition.BACKED_OFF, allocation="midway").allocation == "midway"


def test_pilot_states_include_unknown_and_lost() -> None:
    pilot = Pilot(cluster_id="0123abcd", allocation="a", index=0, tag=pilot_tag("abcdef012345", "0123abcd", 0))
    assert pilot.move(PilotState.QUEUED)
    assert pilot.move(PilotState.UNKNOWN, "slurmctld not answering")
    assert pilot.move(PilotState.RUNNING)
    assert not pilot.move(PilotState.RUNNING)
    assert pilot.move(PilotState.LOST, "job gone, no exit marker")
    with pytest.raises(InvalidTransition):
        pilot.move(PilotState.RUNNING)


def test_running_pilot_cannot_go_back_to_queued() -> None:
    pilot = Pilot(cluster_id="0123abcd", allocation="a", index=0, tag="vc3-abcdef012345-0123abcd-0", state=PilotState.RUNNING)
    with pytest.raises(InvalidTransition):
        pilot.move(PilotState.QUEUED)


def test_allocation_states() -> None:
    allocation = Allocation(name="a", resource="r")
    allocation.move(AllocationState.VALIDATION_FAILURE, "sbatch not found")
    allocation.move(AllocationState.READY)
    allocation.move(AllocationState.NEEDS_LOGIN, "MFA connection dropped")
    with pytest.raises(InvalidTransition):
        allocation.move(AllocationState.NEW)


def test_tags_carry_installation_and_job_names_fit_torque() -> None:
    tag = pilot_tag("abcdef012345", "0123abcd", 123456789)
    assert tag == "vc3-abcdef012345-0123abcd-123456789"
    assert len(job_name(tag)) <= 15
    assert job_name(tag).startswith("vc3abcdef")
    assert job_name(pilot_tag("abcdef012345", "0123abcd", 1)) != job_name(pilot_tag("abcdef012345", "0123abcd", 2))

"""The state machines of DESIGN.md: clusters, pilots and allocations, with the moves each allows.

Scaling is not a state: a running cluster carries conditions instead (see models.Condition).
"""

from __future__ import annotations

from enum import StrEnum


class InvalidTransition(ValueError):
    """A state change the machine does not allow; a bug in the caller, never user input."""


class ClusterState(StrEnum):
    NEW = "new"
    STARTING_HEAD = "starting_head"
    RUNNING = "running"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"

    @property
    def live(self) -> bool:
        """A live cluster may have processes or jobs somewhere that someone must stop."""
        return self is not ClusterState.TERMINATED


class ClusterCondition(StrEnum):
    AT_TARGET = "at_target"
    SCALING_UP = "scaling_up"
    DRAINING = "draining"
    AUTOSCALING = "autoscaling"
    EXPIRING = "expiring"
    BACKED_OFF = "backed_off"
    NEEDS_LOGIN = "needs_login"
    WORK_HELD = "work_held"


ALLOCATION_CONDITIONS = frozenset({ClusterCondition.BACKED_OFF, ClusterCondition.NEEDS_LOGIN})


class PilotState(StrEnum):
    INTENT = "intent"
    QUEUED = "queued"
    RUNNING = "running"
    DRAINING = "draining"
    DONE = "done"
    FAILED = "failed"
    HELD = "held"
    UNKNOWN = "unknown"
    LOST = "lost"

    @property
    def ended(self) -> bool:
        return self in _PILOT_ENDED


class PilotStage(StrEnum):
    """What a running pilot has got to, from the markers it writes itself."""

    STARTED = "started"
    BUILDING = "building"
    READY = "ready"
    WORKER_STARTED = "worker_started"
    WORKER_JOINED = "worker_joined"


class AllocationState(StrEnum):
    NEW = "new"
    READY = "ready"
    VALIDATION_FAILURE = "validation_failure"
    NEEDS_LOGIN = "needs_login"
    FAILURE = "failure"


_PILOT_ENDED = frozenset({PilotState.DONE, PilotState.FAILED, PilotState.LOST})

_CLUSTER_MOVES: dict[ClusterState, frozenset[ClusterState]] = {
    ClusterState.NEW: frozenset({ClusterState.STARTING_HEAD, ClusterState.TERMINATING}),
    ClusterState.STARTING_HEAD: frozenset({ClusterState.RUNNING, ClusterState.TERMINATING}),
    ClusterState.RUNNING: frozenset({ClusterState.TERMINATING}),
    ClusterState.TERMINATING: frozenset({ClusterState.TERMINATED}),
    ClusterState.TERMINATED: frozenset(),
    ClusterState.FAILED: frozenset({ClusterState.TERMINATING}),
}

_LIVE_PILOT = frozenset(
    {PilotState.QUEUED, PilotState.RUNNING, PilotState.DRAINING, PilotState.HELD, PilotState.UNKNOWN}
)
_PILOT_MOVES: dict[PilotState, frozenset[PilotState]] = {
    PilotState.INTENT: _LIVE_PILOT | _PILOT_ENDED,
    PilotState.QUEUED: _LIVE_PILOT | _PILOT_ENDED,
    PilotState.RUNNING: (_LIVE_PILOT - {PilotState.QUEUED}) | _PILOT_ENDED,
    PilotState.DRAINING: frozenset({PilotState.DRAINING, PilotState.UNKNOWN}) | _PILOT_ENDED,
    PilotState.HELD: _LIVE_PILOT | _PILOT_ENDED,
    PilotState.UNKNOWN: _LIVE_PILOT | _PILOT_ENDED,
    PilotState.DONE: frozenset(),
    PilotState.FAILED: frozenset(),
    PilotState.LOST: frozenset(),
}

_ALLOCATION_MOVES: dict[AllocationState, frozenset[AllocationState]] = {
    state: frozenset(AllocationState) - {AllocationState.NEW} for state in AllocationState
}


def check_cluster_move(old: ClusterState, new: ClusterState) -> None:
    if new is ClusterState.FAILED and old not in (ClusterState.TERMINATED, ClusterState.FAILED):
        return
    if new is old or new in _CLUSTER_MOVES[old]:
        return
    raise InvalidTransition(f"cluster cannot go from {old} to {new}")


def check_pilot_move(old: PilotState, new: PilotState) -> None:
    if new is old or new in _PILOT_MOVES[old]:
        return
    raise InvalidTransition(f"pilot cannot go from {old} to {new}")


def check_allocation_move(old: AllocationState, new: AllocationState) -> None:
    if new is old or new in _ALLOCATION_MOVES[old]:
        return
    raise InvalidTransition(f"allocation cannot go from {old} to {new}")

"""The engine's nouns (DESIGN.md vocabulary) as pydantic models.

Everything read from a file or a site passes through these, so a bad value is caught once, here,
with a message a user can act on. Strings that may reach a remote shell are restricted to safe
characters at this layer; quoting is still applied wherever a shell is involved.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vc3tui.engine.durations import Duration
from vc3tui.engine.fields import (
    BatchOption, BatchToken, BuilderRequirement, Command, Cores, DiskMB, ExitCode, HostName, IPAddress, JumpHost, Login, ManagerAddress, MemoryMB, Mount,
    Name, OsSpec, Pid, PilotCount, PipRequirement, PlainText, Port, RowId, ScratchPath, Seconds, Tally, Timestamp, VariableValue, Weight, WorkerCount, restricted,
)  # fmt: skip
from vc3tui.engine.kinds import BatchKind, Feature, HeadPlacement, MiddlewareKind
from vc3tui.engine.states import (
    ALLOCATION_CONDITIONS,
    AllocationState,
    ClusterCondition,
    ClusterState,
    PilotStage,
    PilotState,
    check_allocation_move,
    check_cluster_move,
    check_pilot_move,
)


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a file must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class NodeShape(Strict):
    """What one node offers; None where the site's guide does not say."""

    cores: Cores | None = None
    memory_mb: MemoryMB | None = None
    disk_mb: DiskMB | None = None


class Resource(Strict):
    """A site profile: where to log in, which batch system, what a node looks like."""

    name: Name
    display_name: PlainText = ""
    organization: PlainText = ""
    description: PlainText = ""
    login_hosts: list[HostName] = Field(default_factory=list)
    port: Port | None = Field(None, description="the SSH port; empty: ~/.ssh/config's Port for the host, else 22")
    proxy_jump: JumpHost | None = Field(None, description="a bastion to log in through, [USER@]HOST[:PORT]; empty: ~/.ssh/config's ProxyJump")
    batch: BatchKind
    partition: BatchToken | None = None
    node: NodeShape = Field(default_factory=NodeShape)
    native_os: PlainText = "unknown"
    features: list[Feature] = Field(default_factory=list)
    scratch_dir: ScratchPath | None = None
    shared_filesystem: bool = Field(True, description="compute nodes see the login node's files; false: pilots carry the builder")
    docs_url: PlainText = ""
    mfa: PlainText = Field("", description="how the site asks for a second factor, as its guide says; empty: not stated")
    retired: int | None = Field(None, ge=1990, le=2100, description="the year the site went out of service; never offered for new allocations")
    poll_interval: Duration = 30
    max_channels: int = Field(4, ge=2, le=64)
    batch_options: list[BatchOption] = Field(default_factory=list, description="extra directives, e.g. --qos=debug")

    @property
    def title(self) -> str:
        return self.display_name or self.name


class StageResult(Strict):
    """One step of allocation validation: what was checked, how long it took, how to fix it."""

    stage: str
    ok: bool
    seconds: Seconds = 0.0
    detail: str = ""
    fix: str = ""


class Reach(Strict):
    """What a compute node of an allocation reaches, as its validation's test job found: this
    machine directly, this machine through a relay on the login node, the login node itself."""

    this_machine: bool = False
    through_login: bool = False
    login_node: bool = False


class Allocation(Strict):
    """My account on a resource, with the key pair vc3tui made for it."""

    name: Name
    resource: Name
    login: Login | None = None
    key_path: str | None = None
    account: BatchToken | None = None
    batch_options: list[BatchOption] = Field(default_factory=list)
    max_pilots: PilotCount | None = None
    owner: str | None = None
    workdir: str | None = None
    landed_on: str | None = None
    certificate_expires: Timestamp | None = None
    state: AllocationState = AllocationState.NEW
    reason: str = ""
    report: list[StageResult] = Field(default_factory=list)
    reach: Reach | None = None

    def move(self, state: AllocationState, reason: str = "") -> None:
        check_allocation_move(self.state, state)
        self.state = state
        self.reason = reason


class Environment(Strict):
    """What the builder must provide on a worker."""

    name: Name | None = None
    require: list[BuilderRequirement] = Field(default_factory=list, description="builder requirements NAME[:MIN[:MAX]]")
    pip: list[PipRequirement] = Field(default_factory=list, description="pip requirements (PEP 508), e.g. 'numpy>=1.26'")
    os: OsSpec | None = None
    mounts: list[Mount] = Field(default_factory=list)
    variables: dict[str, VariableValue] = Field(default_factory=dict, max_length=256)

    @property
    def named_only(self) -> bool:
        """A named environment (a project's) and nothing else: the cluster gets that one."""
        return bool(self.name) and not (self.require or self.pip or self.os or self.mounts or self.variables)

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for key in variables:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not an environment variable name; use A-Z a-z 0-9 _")
        return variables


class WorkerSpec(Strict):
    count: WorkerCount = 1
    cores: Cores = 1
    memory_mb: MemoryMB = 1000
    disk_mb: DiskMB = 1000
    walltime: Annotated[Duration, Field(gt=0)] = 3600
    command: Command | None = None
    idle_timeout: Duration = Field(900, description="a worker idle this long ends its pilot; 0: never")
    head_timeout: Duration = Field(300, description="a pilot whose head is unreachable this long ends; 0: never")


class AllocationUse(Strict):
    """One allocation a blueprint draws pilots from, with its share."""

    name: Name
    weight: Weight = 1.0
    max_pilots: PilotCount | None = None


class HeadSpec(Strict):
    """Where the head runs: `auto` (chosen at launch from what the allocations' nodes reach:
    placement.py); `local` (this machine); `allocation` (detached on that allocation's login
    host, or as a batch job there when `batch_job`); `external` (a running pool at `address` that
    the cluster only adds workers to)."""

    placement: HeadPlacement = HeadPlacement.AUTO
    allocation: Name | None = None
    batch_job: bool = False
    walltime: Annotated[Duration, Field(gt=0)] = 86400
    address: ManagerAddress | None = None
    secrets: str | None = Field(None, description="external only: a directory here with the files its workers need (a join ticket unpacked)")
    listen: IPAddress | None = None
    jupyter: bool = False

    @model_validator(mode="after")
    def _placement_needs(self) -> "HeadSpec":
        if self.placement is HeadPlacement.ALLOCATION and not self.allocation:
            raise ValueError("placement 'allocation' needs head.allocation = \"<allocation name>\"")
        if self.placement is HeadPlacement.EXTERNAL and not self.address:
            raise ValueError("placement 'external' needs head.address, the running manager's address")
        if self.batch_job and self.placement is not HeadPlacement.ALLOCATION:
            raise ValueError("batch_job needs placement = \"allocation\" (a batch job runs on an allocation)")
        if self.secrets and self.placement is not HeadPlacement.EXTERNAL:
            raise ValueError("secrets are for an external head; vc3tui makes its own heads' secrets")
        if self.jupyter and self.placement is HeadPlacement.EXTERNAL:
            raise ValueError("an external head is not started by vc3tui, so it cannot start JupyterLab beside it")
        return self


class Autoscale(Strict):
    """Follow the middleware's demand between min and max: up by at most `step` pilots a cycle,
    down only after demand has stayed below the live count for `idle`."""

    min: WorkerCount = 0
    max: Annotated[WorkerCount, Field(gt=0)]
    step: PilotCount = 10
    idle: Annotated[Duration, Field(gt=0)] = 300

    @model_validator(mode="after")
    def _ordered(self) -> "Autoscale":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class Blueprint(Strict):
    """A cluster recipe; its file form is TOML. Checks that span fields live in blueprint.py."""

    name: Name
    description: PlainText = ""
    middleware: MiddlewareKind
    environment: Environment = Field(default_factory=Environment)
    workers: WorkerSpec = Field(default_factory=WorkerSpec)
    allocations: list[AllocationUse] = Field(min_length=1)
    head: HeadSpec = Field(default_factory=HeadSpec)
    entry: Command | None = None
    autoscale: Autoscale | None = None
    peaceful: bool = True
    expiration: Annotated[Duration, Field(gt=0)] | None = None


class Member(Strict):
    """A person in a project; the fingerprint says which key is theirs, the key itself stays with them."""

    name: Name
    email: PlainText = ""
    key_fingerprint: Annotated[str, restricted(r"(SHA256:[A-Za-z0-9+/]{43})?", "key fingerprint", "copy the SHA256:... that `ssh-keygen -lf KEY.pub` prints")] = ""


class AllocationDescriptor(Strict):
    """An allocation as a project shares it: where, whose, which account; never a login or a key."""

    name: Name
    resource: Name
    owner: Name
    account: BatchToken | None = None


class SharedCluster(Strict):
    """A project cluster as its members see it: one head, run by `owner`, that other members add
    their own pilots to (from their side, an external head at `address`)."""

    name: Name
    blueprint: Name
    owner: Name
    middleware: MiddlewareKind
    address: ManagerAddress
    ticket: bool = False
    """Joining needs the owner's join ticket (`vc3tui cluster invite`): the head's workers prove themselves with its secrets."""


class Project(Strict):
    """What a team shares as one TOML file: who is in it, where they run, what they run."""

    name: Name
    description: PlainText = ""
    members: list[Member] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)
    environments: list[Environment] = Field(default_factory=list)
    blueprints: list[Blueprint] = Field(default_factory=list)
    allocations: list[AllocationDescriptor] = Field(default_factory=list)
    clusters: list[SharedCluster] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> "Project":
        for field in ("members", "resources", "environments", "blueprints", "allocations", "clusters"):
            twice = sorted(name for name, seen in Counter(item.name for item in getattr(self, field)).items() if seen > 1)
            if twice:
                raise ValueError(f"{field}: {', '.join(map(str, twice))} listed twice; give each a unique name")
        return self


class Condition(Strict):
    """A fact about a running cluster that changes each cycle, with why it holds."""

    kind: ClusterCondition
    reason: str = ""
    allocation: Name | None = None
    since: Timestamp = Field(default_factory=time.time)

    @model_validator(mode="after")
    def _scope(self) -> "Condition":
        if (self.kind in ALLOCATION_CONDITIONS) != (self.allocation is not None):
            raise ValueError(f"condition {self.kind} applies to {'one allocation' if self.allocation is None else 'the cluster'}")
        return self


class Head(Strict):
    """Identity of a head node, so a restarted engine can find and stop it: the allocation it runs
    on (None: this machine), the login host, the node's own hostname, its pid or batch job id."""

    allocation: str | None = None
    host: str = "localhost"
    hostname: str = ""
    workdir: str = ""
    pid: Pid | None = None
    job_id: str | None = None
    external: bool = False
    secrets: bool = True
    """Workers get the manager's secrets: every head vc3tui starts; an external one given head.secrets."""
    started_at: Timestamp | None = None
    ports: dict[str, Port] = Field(default_factory=dict)
    address: str = ""


USER_INTENT_FIELDS = ("requested", "peaceful", "terminate_requested", "expires_at")
"""Cluster fields any process may write; the factory's own writes never overwrite them."""


class Cluster(Strict):
    id: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    name: Name
    blueprint: Blueprint
    state: ClusterState = ClusterState.NEW
    reason: str = ""
    conditions: list[Condition] = Field(default_factory=list)
    requested: WorkerCount = 0
    peaceful: bool = True
    terminate_requested: bool = False
    target: WorkerCount | None = Field(None, description="the autoscaler's current target (factory-owned)")
    created_at: Timestamp = Field(default_factory=time.time)
    expires_at: Timestamp | None = None
    head: Head | None = None

    def move(self, state: ClusterState, reason: str) -> None:
        check_cluster_move(self.state, state)
        self.state = state
        self.reason = reason


class Pilot(Strict):
    """One batch job on one allocation; its row and tag exist before the job does.

    Assignments are not re-validated: pilots are checked when read from the store, state changes
    go through `move`, and a cycle touches every tracked pilot (10,000 of them must stay cheap).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    cluster_id: str
    allocation: Name
    index: Tally
    tag: str
    state: PilotState = PilotState.INTENT
    stage: PilotStage | None = None
    job_id: str | None = None
    host: str | None = None
    reason: str = ""
    exit_code: ExitCode | None = None
    created_at: Timestamp = Field(default_factory=time.time)
    submitted_at: Timestamp | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None

    def move(self, state: PilotState, reason: str = "") -> bool:
        """Apply a state change; True when it changed anything worth an event."""
        if state is self.state and (not reason or reason == self.reason):
            return False
        check_pilot_move(self.state, state)
        self.state = state
        if reason:
            self.reason = reason
        return True


class Event(Strict):
    """A state change with a human reason, kept in the store and streamed to every view."""

    cluster_id: str | None = None
    kind: str
    message: str
    at: Timestamp = Field(default_factory=time.time)
    id: RowId | None = None

"""The three seams every site and middleware plugs into: Executor, BatchSystem, Middleware.

Each is a typing.Protocol so an implementation needs no base class; the factory only ever talks
to these. Commands are argv lists: an implementation that must pass one through a remote shell
quotes every element with shlex.quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.models import BatchKind, Cluster, Head, MiddlewareKind, Pilot
from vc3tui.engine.states import PilotStage, PilotState


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self) -> str:
        """One line for the user: the command's own last error line, not a traceback."""
        lines = [line for line in (self.stderr or self.stdout).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {self.returncode}"
        return f"{self.argv[0]}: {last}" if not last.startswith(self.argv[0]) else last


class CommandFailed(VC3Error):
    def __init__(self, result: CommandResult) -> None:
        super().__init__(result.summary())
        self.result = result


class Terminal(Protocol):
    """The user's terminal, lent by a front end for a shell on a site: where keys come from and the
    screen goes, its size and type, and raw mode while the shell has it (the engine never sets a
    terminal's mode itself)."""

    keyboard: int
    screen: int
    term_type: str

    def size(self) -> tuple[int, int]:
        """(columns, lines)."""
        ...

    def raw(self) -> AbstractContextManager[None]: ...


@runtime_checkable
class Executor(Protocol):
    """Runs things where an allocation lives: this machine, or a login node over one SSH connection."""

    label: str
    python: str
    """The Python that runs the engine's small helpers where this executor runs: this process's own
    here, `python3` on a site (validation checked it is there)."""
    asks_person: bool
    """Its login may ask a person (a password, a code): waits on it are never cut short."""

    async def run(self, argv: Sequence[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None, timeout: float | None = None) -> CommandResult: ...

    async def run_script(self, script: str, *, timeout: float | None = None) -> CommandResult:
        """Run a POSIX sh script fed on stdin, so its text never shows on a command line."""
        ...

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """Write a file atomically (temporary name, then rename): readers see old or new, never half."""
        ...

    async def get(self, path: str) -> bytes: ...

    async def spawn(self, argv: Sequence[str], *, log_path: str, pid_file: str = "", cwd: str | None = None, env: Mapping[str, str] | None = None) -> int:
        """Start a detached session leader that outlives us and holds no channel; return its pid.

        The pid is also written to `pid_file` (when given), by a process that does not depend on
        the caller: one that dies just after the start still leaves it."""
        ...

    async def attach(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdout: int, stderr: int) -> int:
        """Run in the foreground with output to `stdout` and `stderr` (descriptors) as it comes: the entry point.
        Cancelling the call stops the command."""
        ...

    async def interact(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, terminal: Terminal) -> int:
        """Run attached to the user's terminal (a shell for a person); the caller has handed the
        terminal over (the app is suspended). Returns the exit status."""
        ...

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        """An address on this machine that reaches host:port as the allocation sees it."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class PilotShape:
    """What every pilot of one submission asks the batch system for."""

    cores: int
    memory_mb: int
    disk_mb: int
    walltime: int
    partition: str | None = None
    account: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Submission:
    """Pilots that share a shape and a command, submitted in one call (an array where possible).

    Each pilot runs `builder` (the vc3-builder and its options) to make its environment, then
    `command` inside it; `env` is exported first.
    """

    pilots: Sequence[Pilot]
    shape: PilotShape
    workdir: str
    builder: Sequence[str]
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One pilot as the batch system and its own markers see it."""

    state: PilotState
    native: str = ""
    reason: str = ""
    stage: PilotStage | None = None
    exit_code: int | None = None
    host: str | None = None
    started_at: float | None = None
    job_id: str | None = None


@runtime_checkable
class BatchSystem(Protocol):
    kind: BatchKind

    def render(self, submission: Submission) -> str:
        """The job script for a submission, with the full pilot tags inside it."""
        ...

    async def submit(self, executor: Executor, submission: Submission) -> dict[str, str]:
        """Submit every pilot of the submission in as few calls as possible; tag -> job id."""
        ...

    async def status(self, executor: Executor, pilots: Sequence[Pilot], workdir: str) -> dict[str, JobStatus]:
        """One round trip for all pilots; a tag missing from the answer is not known to the system."""
        ...

    async def cancel(self, executor: Executor, pilots: Sequence[Pilot]) -> None: ...


@dataclass(frozen=True)
class HeadLaunch:
    """How to start a middleware's manager; where it listens is learnt afterwards (`locate`)."""

    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadLink:
    """Something a person opens on the head (a dashboard, the port a client connects to), as the
    head's login host reaches it; `scheme` empty for a bare host:port."""

    name: str
    scheme: str
    host: str
    port: int
    path: str = ""

    @classmethod
    def of_address(cls, name: str, address: str) -> HeadLink:
        """From a manager's address, `[scheme://]host:port`."""
        scheme, _, rest = address.rpartition("://")
        host, _, port = rest.rpartition(":")
        return cls(name, scheme, host, int(port))


@dataclass(frozen=True)
class HeadAddress:
    """Where workers and clients find a running manager."""

    address: str
    ports: Mapping[str, int]


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as the manager sees it, named by the pilot tag it was started with."""

    name: str
    tag: str | None
    address: str


def count_in_reply(value: object, what: str) -> int:
    """A whole number a manager reported (JSON int or digits); anything else is a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not value.isascii()):
        raise ValueError(f"{what} is {value!r}, not a whole number")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{what} is {value!r}, not a whole number") from None


@runtime_checkable
class Middleware(Protocol):
    kind: MiddlewareKind
    has_manager: bool
    entry_is_manager: bool
    """The user's entry point is the manager itself (Work Queue): workers join only once it runs."""
    ends_idle_workers: bool
    """The worker has its own idle timeout (given workers.idle_timeout); else the pilot monitor
    ends a worker whose processes used almost no CPU for that long."""
    joined_line: str | None
    """A line the worker logs once it joined, for managers that cannot list workers by name."""
    worker_secrets: tuple[str, ...]
    """The names of secrets() every pilot's site needs (copied 0600 into its secrets dir)."""

    def head_launch(self, cluster: Cluster, workdir: str, listen_host: str) -> HeadLaunch:
        """The manager's command; it runs in the cluster's environment with `workdir` as its home."""
        ...

    async def locate(self, executor: Executor, workdir: str, host: str) -> HeadAddress | None:
        """The manager's address once it listens (None before that), with `host` as the head's
        host name workers are given."""
        ...

    def external(self, address: str) -> HeadAddress:
        """A manager someone else runs, from the address the user gave (ValueError if unusable)."""
        ...

    def join_address(self, head: Head) -> str:
        """The address another member's cluster gives `external()` to send workers to this head."""
        ...

    def ticket_needed(self, head: Head) -> bool:
        """Whether another member's workers need this head's secrets (a join ticket) to join it."""
        ...

    async def ready(self, executor: Executor, head: Head) -> bool:
        """Whether the manager answers, asked of the manager itself."""
        ...

    def worker_command(self, cluster: Cluster, head: Head, tag: str, secrets_dir: str) -> list[str]: ...

    async def workers(self, executor: Executor, head: Head) -> list[WorkerInfo]: ...

    async def demand(self, executor: Executor, cluster: Cluster) -> int:
        """How many workers the manager's queue could use now, for autoscaling."""
        ...

    async def drain(self, executor: Executor, head: Head, tags: Sequence[str]) -> None:
        """Ask these workers to finish what they run, take nothing new, and exit."""
        ...

    async def held(self, executor: Executor, cluster: Cluster) -> Sequence[str]:
        """Work the manager holds until someone acts, one line per cause in the manager's own
        words (HTCondor's held jobs); managers that hold nothing say nothing."""
        ...

    def secrets(self, cluster: Cluster, workdir: str, listen_host: str) -> Mapping[str, bytes]:
        """Files (name -> content) written 0600 into `workdir`/secrets before the manager starts:
        its keys, and configuration that names them; never on a command line."""
        ...

    def client_environment(self, cluster: Cluster) -> Mapping[str, str]:
        """Variables that point a program on the head at this cluster (e.g. DASK_SCHEDULER_ADDRESS)."""
        ...

    def links(self, head: Head) -> Sequence[HeadLink]:
        """What a person opens on a running head: its dashboard, its client port."""
        ...

"""The value types model fields use: strings restricted to what is safe to hand a remote shell
or a batch system (quoting is still applied wherever a shell is involved), and numbers within the
bounds a cluster can have. Each rule is written once, here; `checked` applies one to a single value
(a count typed in the app, a duration on the command line) with the same one-line message."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter, ValidationError

from vc3tui.engine.durations import MAX_DURATION
from vc3tui.engine.errors import VC3Error
from vc3tui.engine.text import CONTROL, printable
from vc3tui.engine.tomlfile import field_problems, value_problems

MAX_WORKERS = 100_000
"""The most workers a cluster (or an autoscale range) may ask for."""


def restricted(regex: str, what: str, hint: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}; {hint}")
        return value

    return AfterValidator(check)


Name = Annotated[str, restricted(r"[A-Za-z0-9_-]{1,64}", "name", "use 1-64 of A-Z a-z 0-9 _ -")]
HostName = Annotated[
    str, restricted(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", "host name", "use a DNS name or an IP address")
]
JumpHost = Annotated[
    str,
    restricted(
        r"([A-Za-z_][A-Za-z0-9._-]{0,63}@)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?", "jump host", "write it as [USER@]HOST[:PORT], as for ssh -J"
    ),
]
"""A bastion the login goes through (OpenSSH's ProxyJump), one hop."""
Login = Annotated[
    str, restricted(r"[A-Za-z_][A-Za-z0-9._-]{0,63}", "login name", "use the user name you log in with")
]
BatchToken = Annotated[
    str,
    restricted(r"[A-Za-z0-9_.,:+=@/-]{1,128}", "batch system value", "use letters, digits and _ . , : + = @ / -"),
]
BatchOption = Annotated[
    str,
    restricted(
        r"--?[A-Za-z][A-Za-z0-9_-]*(=[A-Za-z0-9_.,:+=@/-]+)?",
        "batch option",
        "write it as --name or --name=value (letters, digits and _ . , : + = @ / -)",
    ),
]
OsSpec = Annotated[
    str, restricted(r"[a-z0-9]+(:[0-9.]*){0,2}", "operating system", "write it as DIST[:MIN[:MAX]], e.g. 'centos:7'")
]
BuilderRequirement = Annotated[
    str,
    restricted(r"[A-Za-z0-9][A-Za-z0-9_.+-]*(:[A-Za-z0-9_.+-]*){0,2}", "builder requirement", "write NAME[:MIN[:MAX]], e.g. 'python:3.8'"),
]
_PIP_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PIP_VERSION = r"(?:===|==|!=|~=|>=|<=|>|<)\s*[A-Za-z0-9.*+!_-]+"
PipRequirement = Annotated[
    str,
    restricted(
        rf"{_PIP_NAME}(?:\s*\[\s*{_PIP_NAME}(?:\s*,\s*{_PIP_NAME})*\s*\])?"
        rf"(?:\s*{_PIP_VERSION}(?:\s*,\s*{_PIP_VERSION})*)?(?:\s*;\s*[A-Za-z0-9_.'\" <>=!~()-]{{1,200}})?",
        "pip requirement",
        "write a requirement like 'numpy>=1.26' or 'dask[distributed]==2024.8.0' (no options, paths or URLs; "
        "another index is set in pip's own configuration on the site)",
    ),
]
"""A PEP 508 requirement by name: a pip option or a URL in its place would make every pilot fail."""
ScratchPath = Annotated[
    str,
    restricted(
        r"[A-Za-z0-9_.@+/~${}-]{1,512}",
        "scratch path",
        "write a path, optionally with ~ or $VARIABLES the site sets, e.g. '$SCRATCH' or '/scratch/$USER'",
    ),
]
Mount = Annotated[
    str,
    restricted(r"/[A-Za-z0-9_.@+/-]*([:=]/[A-Za-z0-9_.@+/-]*)?", "mount", "write it as /X, or /X=/Y to see /X at /Y in a container"),
]


def _ip_address(text: str) -> str:
    ipaddress.ip_address(text)
    return text


IPAddress = Annotated[str, AfterValidator(_ip_address)]
"""An IP address the head listens on and advertises to workers, e.g. 127.0.0.1 when every pilot
runs on this very machine (a login node running its own cluster)."""


ManagerAddress = Annotated[
    str,
    restricted(
        r"([a-z]+://)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?",
        "manager address",
        "write it as [SCHEME://]HOST[:PORT], e.g. tcp://sched.example.org:8786",
    ),
]


def _no_control(text: str) -> str:
    found = CONTROL.search(text)
    if found:
        raise ValueError(f"holds the control character {printable(found.group())}; write plain text on one line")
    return text


PlainText = Annotated[str, Field(max_length=2000), AfterValidator(_no_control)]
"""Free text a file gives (a description, an e-mail): one line, no control characters."""


MAX_COMMAND_BYTES = 64 * 1024
"""A command's arguments together: half of what one argument to a remote `sh -c` may be on Linux."""


def _short_enough(argv: list[str]) -> list[str]:
    size = sum(len(arg.encode()) + 1 for arg in argv)
    if size > MAX_COMMAND_BYTES:
        raise ValueError(f"{size} bytes of arguments; keep a command under {MAX_COMMAND_BYTES // 1024} KiB (put a long script in a file)")
    return argv


Command = Annotated[list[str], Field(min_length=1, max_length=1024), AfterValidator(_short_enough)]
"""A program and its arguments, run without a shell of ours in between."""
VariableValue = Annotated[str, Field(max_length=MAX_COMMAND_BYTES)]


WorkerCount = Annotated[int, Field(ge=0, le=MAX_WORKERS)]
"""How many workers a cluster asks for: 0 (none for now) up to MAX_WORKERS."""

PilotCount = Annotated[int, Field(gt=0, le=MAX_WORKERS)]
"""A cap or a step on pilots: 1 up to MAX_WORKERS."""

Tally = Annotated[int, Field(ge=0, le=2**31 - 1)]
"""What the engine counts itself (pilots in a state, a pilot's index over a cluster's life)."""

Cores = Annotated[int, Field(gt=0, le=65_536)]
MemoryMB = Annotated[int, Field(gt=0, le=64 * 2**20, description="megabytes, at most 64 TiB")]
DiskMB = Annotated[int, Field(gt=0, le=2**30, description="megabytes, at most 1 PiB")]
Weight = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
"""An allocation's share of a cluster's pilots, relative to the others'."""

Port = Annotated[int, Field(ge=1, le=65535)]
Pid = Annotated[int, Field(gt=0, le=2**22)]
"""Linux's largest pid_max."""
ExitCode = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
"""As a batch system reports it (PBS's are negative for its own failures, above 256 for signals)."""
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]

Timestamp = Annotated[float, Field(ge=0, le=7_258_118_400, allow_inf_nan=False)]
"""Seconds since 1970, before the year 2200."""
Seconds = Annotated[float, Field(ge=0, le=MAX_DURATION, allow_inf_nan=False)]
"""A measured time (how long a validation stage took)."""


class InvalidValue(VC3Error):
    """A value outside what its field allows; the message says which and what is allowed."""


def checked(kind: Any, value: object, what: str) -> Any:
    """`value` as the type `kind` reads it (a model from a dict of fields, or one value), else
    InvalidValue with one line per problem, each naming its field (or `what`) and the rule."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            problems = field_problems(kind, exc)
        else:
            problems = value_problems(exc, what)
        error = InvalidValue("; ".join(problems))
        error.problems = problems
        raise error from None

"""The value types model fields use: strings restricted to what is safe to hand a remote shell
or a batch system (quoting is still applied wherever a shell is involved), and numbers within the
bounds a cluster can have. Each rule is written once, here; `checked` applies one to a single value
(a count typed in the app, a duration on the command line) with the same one-line message."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter, ValidationError

from vc3tui.engine.errors import VC3Error
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


WorkerCount = Annotated[int, Field(ge=0, le=MAX_WORKERS)]
"""How many workers a cluster asks for: 0 (none for now) up to MAX_WORKERS."""


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

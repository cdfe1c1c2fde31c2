"""Blueprints: the TOML form of a cluster recipe, checked before anything starts.

Every problem is reported at once, one line each (`FILE:LINE: field: message; hint`), so a user
fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.catalog import LOCAL
from vc3tui.engine.errors import EngineError
from vc3tui.engine.fields import InvalidValue, checked
from vc3tui.engine.middleware.registry import middleware_for
from vc3tui.engine.models import Blueprint, Environment, HeadPlacement, MiddlewareKind
from vc3tui.engine.store import Store
from vc3tui.engine.tomlfile import FileErrors, Loc, dotted, located, read_toml, validate_file

Finding = tuple[Loc, str, str]
SUPPORTED_MIDDLEWARE = (MiddlewareKind.DASK, MiddlewareKind.WORKQUEUE, MiddlewareKind.SPARK, MiddlewareKind.HTCONDOR, MiddlewareKind.NONE)

FIELD_HINTS = {
    "count": "the number of workers to start, 0 or more",
    "cores": "cores per worker, e.g. 1",
    "memory_mb": "memory per worker in MB, e.g. 2000",
    "disk_mb": "scratch disk per worker in MB, e.g. 1000",
    "weight": "this allocation's share relative to the others, e.g. 1",
    "max_pilots": "the most pilots this allocation may hold; leave it out for no cap",
    "min": "the fewest workers autoscaling keeps, 0 or more",
    "max": "the most workers autoscaling starts, 1 or more",
    "walltime": "how long each pilot may run, e.g. '2h'",
    "expiration": "when the cluster terminates itself, e.g. '72h'",
    "idle_timeout": "how long a worker may sit idle before its pilot ends, e.g. '15m'; 0 never",
    "head_timeout": "how long a pilot waits for an unreachable head before it ends, e.g. '5m'; 0 never",
    "listen": "the IP address the head listens on and gives workers, e.g. '127.0.0.1'",
}


async def load_known_blueprint(store: AsyncStore, path: Path) -> Blueprint:
    """A blueprint file checked against this installation's allocations and named environments."""
    allocations = {LOCAL, *(a.name for a in await store.run(Store.allocations))}
    environments = {e.name for e in await store.run(Store.environments) if e.name}
    return load_blueprint(path, allocations=allocations, environments=environments)


def load_blueprint(path: Path, *, allocations: Collection[str], environments: Collection[str] = ()) -> Blueprint:
    """Read, validate and cross-check a blueprint file; raise FileErrors listing every problem."""
    data, lines = read_toml(path, "blueprint")
    blueprint = validate_file(Blueprint, data, path, lines, FIELD_HINTS)
    findings = check_blueprint(blueprint, allocations=allocations, environments=environments)
    if findings:
        raise FileErrors([located(path, lines, loc, message, hint) for loc, message, hint in findings])
    return blueprint


def check_blueprint(
    blueprint: Blueprint, *, allocations: Collection[str], environments: Collection[str] = ()
) -> list[Finding]:
    """Checks that span fields or need the store: (where, what is wrong, what to do)."""
    findings: list[Finding] = []
    known = ", ".join(sorted(allocations)) or "none yet"
    seen: set[str] = set()
    for index, use in enumerate(blueprint.allocations):
        where: Loc = ("allocations", index, "name")
        if use.name in seen:
            findings.append((where, f"allocation {use.name!r} is listed twice", "list each allocation once"))
        elif use.name not in allocations:
            findings.append(
                (where, f"unknown allocation {use.name!r}", f"create it with `vc3tui allocation create` or use one of: {known}")
            )
        seen.add(use.name)
    head = blueprint.head
    if head.placement is HeadPlacement.ALLOCATION and head.allocation not in allocations:
        findings.append((("head", "allocation"), f"unknown allocation {head.allocation!r}", f"use one of: {known}"))
    if blueprint.middleware is MiddlewareKind.JUPYTERLAB:
        findings.append(
            (("middleware",), "JupyterLab is a head service, not a middleware of its own", 'set [head] jupyter = true beside "dask", "spark", "htcondor" or "workqueue"')
        )
    elif blueprint.middleware not in SUPPORTED_MIDDLEWARE:
        supported = ", ".join(f'"{kind}"' for kind in SUPPORTED_MIDDLEWARE)
        findings.append((("middleware",), f"{blueprint.middleware} is not supported by this version yet", f"use one of {supported}"))
    elif head.placement is HeadPlacement.EXTERNAL:
        findings += _external_head(blueprint)
    if head.jupyter and blueprint.middleware is MiddlewareKind.NONE:
        findings.append((("head", "jupyter"), "middleware 'none' has no head to put JupyterLab on", 'use a middleware with a manager, e.g. "dask"'))
    if blueprint.middleware is MiddlewareKind.NONE and not blueprint.workers.command:
        findings.append(
            (("middleware",), "middleware 'none' runs workers.command on each pilot", "set workers.command = [\"...\"]")
        )
    scale = blueprint.autoscale
    if scale and not scale.min <= blueprint.workers.count <= scale.max:
        findings.append(
            (("workers", "count"), f"{blueprint.workers.count} is outside autoscale {scale.min}..{scale.max}", "start within the range")
        )
    env = blueprint.environment
    if env.named_only and env.name not in environments:
        choices = ", ".join(sorted(environments)) or "none defined yet"
        findings.append(
            (("environment", "name"), f"unknown environment {env.name!r}", f"define it inline or use one of: {choices}")
        )
    return findings


def finding_lines(findings: list[Finding]) -> list[str]:
    """Findings about a blueprint that came from flags or a form, not a file: `field: message (hint)`."""
    return [f"{dotted(loc)}: {message} ({hint})" for loc, message, hint in findings]


def _external_head(blueprint: Blueprint) -> list[Finding]:
    """An external manager is only joined: vc3tui can neither start it nor ask it for demand."""
    findings: list[Finding] = []
    if blueprint.middleware is MiddlewareKind.NONE:
        findings.append((("head", "placement"), f"middleware '{blueprint.middleware}' has no manager for workers to join", "use a head vc3tui starts"))
        return findings
    try:
        middleware_for(blueprint.middleware).external(blueprint.head.address or "")
    except ValueError as exc:
        findings.append((("head", "address"), str(exc), "give the address the manager's workers use"))
    if blueprint.autoscale:
        findings.append((("autoscale",), "an external manager's demand is not known to vc3tui", "set workers.count instead"))
    head = blueprint.head
    needs = "an HTCondor pool admits workers with its token" if blueprint.middleware is MiddlewareKind.HTCONDOR else (
        "a tls:// scheduler admits workers with its certificates" if (head.address or "").startswith("tls://") else "")
    if needs and not head.secrets:
        findings.append((("head", "secrets"), f"{needs}, and none are given", "set head.secrets to the directory holding them (`vc3tui cluster join --ticket` does it for a teammate's cluster)"))
    names = middleware_for(blueprint.middleware).worker_secrets
    if head.secrets and not Path(head.secrets).expanduser().is_dir():
        findings.append((("head", "secrets"), f"{head.secrets} is not a directory", "give the directory holding the worker's secrets"))
    elif head.secrets and not any((Path(head.secrets).expanduser() / name).is_file() for name in names):
        findings.append((("head", "secrets"), f"{head.secrets} holds none of {', '.join(names)}", f"put the files {blueprint.middleware} workers need there"))
    return findings


@dataclass(frozen=True)
class BlueprintValues:
    """A blueprint as `vc3tui blueprint new`'s flags or the launch form's fields give it: plain
    values, durations as written ("2h"), left to the model types to check and read."""

    name: str
    middleware: str
    description: str = ""
    allocations: Sequence[str] = ()
    workers: int | str = 1
    cores: int | str = 1
    memory_mb: int | str = 1000
    walltime: int | str = "1h"
    require: Sequence[str] = ()
    pip: Sequence[str] = ()
    environment: str | None = None
    expiration: int | str | None = None
    head: str = "auto"
    """auto, local, external, or the allocation whose login host runs it."""
    head_batch_job: bool = False
    head_address: str | None = None
    listen: str | None = None
    jupyter: bool = False
    worker_command: Sequence[str] | None = None


def blueprint_from(values: BlueprintValues, *, allocations: Collection[str], environments: Collection[str] = ()) -> Blueprint:
    """The blueprint the values describe, checked as a file is; InvalidValue lists every problem."""
    if values.head in (HeadPlacement.AUTO, HeadPlacement.LOCAL, HeadPlacement.EXTERNAL):
        head = {"placement": values.head}
    else:
        head = {"placement": HeadPlacement.ALLOCATION, "allocation": values.head}
    if values.head != HeadPlacement.EXTERNAL:
        head |= {"batch_job": values.head_batch_job, "jupyter": values.jupyter}
    else:
        head["address"] = values.head_address
    head["listen"] = values.listen
    body = {
        "name": values.name, "middleware": values.middleware, "description": values.description,
        "environment": {"name": values.environment, "require": list(values.require), "pip": list(values.pip)},
        "workers": {"count": values.workers, "cores": values.cores, "memory_mb": values.memory_mb, "walltime": values.walltime,
                    "command": list(values.worker_command) if values.worker_command else None},
        "allocations": [{"name": name} for name in values.allocations or [LOCAL]],
        "head": head, "expiration": values.expiration or None,
    }  # fmt: skip
    blueprint = checked(Blueprint, body, "blueprint")
    findings = check_blueprint(blueprint, allocations=allocations, environments=environments)
    if findings:
        error = InvalidValue("; ".join(finding_lines(findings)))
        error.problems = finding_lines(findings)
        raise error
    return blueprint


def blueprint_toml(blueprint: Blueprint) -> str:
    """The blueprint as a file `load_blueprint` reads back to the same blueprint: defaults left out."""
    body = blueprint.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    body.setdefault("middleware", blueprint.middleware.value)
    allocations = body.pop("allocations", [{"name": use.name} for use in blueprint.allocations])
    import tomlkit  # writing a file: not needed to read or check one

    document = tomlkit.document()
    for key in ("name", "description", "middleware", "entry", "peaceful", "expiration"):
        if key in body:
            document[key] = body.pop(key)
    for key, table in body.items():
        document[key] = table
    document.add(tomlkit.nl())
    document["allocations"] = tomlkit.aot()
    for use in allocations:
        document["allocations"].append(use)
    return tomlkit.dumps(document)


def resolve_environment(blueprint: Blueprint, environments: Collection[Environment]) -> Blueprint:
    """A named environment is copied into the cluster, so later edits don't change a running one."""
    env = blueprint.environment
    if not env.named_only:
        return blueprint
    named = {e.name: e for e in environments}
    if env.name not in named:
        raise EngineError(f"unknown environment {env.name!r}; `vc3tui project list` shows the projects that name environments")
    return blueprint.model_copy(update={"environment": named[env.name]})

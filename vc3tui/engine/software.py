"""A cluster's software: its environment plus what its middleware needs, and the builder's plan
for it on each site, checked before the head or any pilot starts.

A middleware needs its own programs wherever it runs (the Dask scheduler and workers, Spark's
master and workers, JupyterLab beside a head). Unless the blueprint's environment already names
them, they are added to it: what pip brings at the version vc3tui was tested with, the rest from
the builder's recipes (the system's, or built). The builder's dry run then says, per site, where
each piece comes from, or what is missing there.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.interfaces import Executor
from vc3tui.engine.models import Blueprint, Environment, MiddlewareKind
from vc3tui.engine.paths import shipped_dir

DASK_PIP = "dask[distributed]==2026.8.0"
"""The version in locks/wheelhouse.txt (a test keeps them equal)."""
PYSPARK_PIP = "pyspark==4.3.0"
"""The version of pyproject.toml's `spark` extra (a test keeps them equal)."""
JUPYTERLAB_PIP = "jupyterlab>=4,<5"
CHECK_TIMEOUT = 120.0


@dataclass(frozen=True)
class Need:
    """One piece a middleware needs, as a pip or a builder requirement, and the pip packages and
    builder recipes that already provide it when an environment names them."""

    pip: str | None = None
    require: str | None = None
    pip_names: frozenset[str] = frozenset()
    recipes: frozenset[str] = frozenset()


NEEDS: dict[MiddlewareKind, tuple[Need, ...]] = {
    MiddlewareKind.DASK: (Need(pip=DASK_PIP, pip_names=frozenset({"dask", "distributed"}), recipes=frozenset({"dask"})),),
    MiddlewareKind.SPARK: (
        Need(pip=PYSPARK_PIP, pip_names=frozenset({"pyspark"}), recipes=frozenset({"pyspark"})),
        Need(require="java:17", recipes=frozenset({"java", "pyspark"})),
    ),
    MiddlewareKind.WORKQUEUE: (Need(require="cctools", pip_names=frozenset({"ndcctools"}), recipes=frozenset({"cctools"})),),
    MiddlewareKind.HTCONDOR: (Need(require="htcondor", recipes=frozenset({"htcondor"})),),
}
JUPYTER_NEED = Need(pip=JUPYTERLAB_PIP, pip_names=frozenset({"jupyterlab"}), recipes=frozenset({"jupyterlab"}))


def project_name(requirement: str) -> str:
    """The normalized name a pip requirement or a builder requirement is about (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def implied_needs(blueprint: Blueprint) -> list[Need]:
    """What the middleware (and JupyterLab on the head) need that the environment does not name."""
    env = blueprint.environment
    pip = {project_name(spec) for spec in env.pip}
    recipes = {project_name(spec.split(":")[0]) for spec in env.require}
    needs = list(NEEDS.get(blueprint.middleware, ()))
    if blueprint.head.jupyter:
        needs.append(JUPYTER_NEED)
    return [need for need in needs if not (need.pip_names & pip or need.recipes & recipes)]


def with_middleware_software(blueprint: Blueprint) -> Blueprint:
    """The blueprint whose environment also asks for what its middleware implies."""
    needs = implied_needs(blueprint)
    if not needs or blueprint.environment.os:
        # a container OS brings its own software: the builder inside it decides
        return blueprint
    env = blueprint.environment
    pip = [*env.pip, *(n.pip for n in needs if n.pip)]
    require = [*env.require, *(n.require for n in needs if n.require)]
    environment = Environment(**{**env.model_dump(), "pip": pip, "require": require})
    return blueprint.model_copy(update={"environment": environment})


def software_summary(blueprint: Blueprint) -> list[str]:
    """Where each piece of the cluster's software comes from, as far as the blueprint says before
    any site is asked: pip, a named environment, or the builder (which takes the system's when
    the site has it, else builds it)."""
    implied = {need.pip or need.require for need in implied_needs(blueprint)}
    env = with_middleware_software(blueprint).environment
    if env.named_only:
        return [f"the named environment {env.name}"]
    why = f", for {blueprint.middleware}"
    lines = [f"{spec} (pip{why if spec in implied else ''})" for spec in env.pip]
    lines += [f"{spec} (the system's, else built{why if spec in implied else ''})" for spec in env.require]
    if env.os:
        lines.append(f"all of it inside a {env.os} container")
    return lines


@dataclass(frozen=True)
class Piece:
    """One line of the builder's plan: what, which version, from where, in which state."""

    name: str
    version: str
    origin: str
    state: str

    def __str__(self) -> str:
        if self.origin in ("system", "sys", "wrapper"):
            return f"{self.name} {self.version} (the system's, {self.state})"
        return f"{self.name} ({self.origin}, {self.state})"


class SoftwareMissing(VC3Error):
    """The builder's plan cannot be met on a site; the message names what is missing."""


def parse_plan(text: str) -> list[Piece]:
    """The builder's --dry-run lines (name, version, origin, state, tab-separated)."""
    pieces = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 4:
            pieces.append(Piece(*fields))
    return pieces


async def check_software(executor: Executor, builder: list[str]) -> list[Piece]:
    """The builder's plan on the executor's host, without building anything; a plan that cannot
    be met is SoftwareMissing with the builder's own words."""
    result = await executor.run([*builder, "--dry-run", "--silent"], timeout=CHECK_TIMEOUT)
    if result.ok:
        return parse_plan(result.stdout)
    words = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    text = " ".join(words).removeprefix("vc3-builder: error:").strip()
    text = text.removeprefix("this site cannot provide what was asked:").strip().replace(" (for the command line)", "")
    raise SoftwareMissing(text or result.summary())


async def builder_packages() -> list[str]:
    """The package names the shipped builder's recipes offer (`vc3-builder --list`)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(shipped_dir("builder") / "vc3_builder.py"), "--list",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    output, _ = await process.communicate()
    return [line.split()[0] for line in output.decode().splitlines() if line.strip()]

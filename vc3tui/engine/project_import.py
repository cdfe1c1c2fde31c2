"""What taking in a teammate's project file would change, decided before anything is written: a
file never replaces a site profile or an allocation of yours unless you say so (`--replace`),
and never this machine's own `local`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from vc3tui.engine.catalog import LOCAL, Catalog
from vc3tui.engine.models import Allocation, AllocationDescriptor, Project, Resource
from vc3tui.engine.states import AllocationState


@dataclass
class ImportPlan:
    resources: list[Resource] = field(default_factory=list)
    """To write into the user's resources file."""
    allocations: list[Allocation] = field(default_factory=list)
    """To put in the store, each needing the user's own login."""
    report: list[str] = field(default_factory=list)
    """One line per thing done or kept."""
    replaces: list[str] = field(default_factory=list)
    """One line per thing of the user's the file would replace (done only with `replace`)."""
    refused: list[str] = field(default_factory=list)
    """What no file may replace."""


def differences(mine: BaseModel, theirs: BaseModel) -> str:
    """The fields two versions of a thing differ in, named."""
    a, b = mine.model_dump(mode="json"), theirs.model_dump(mode="json")
    return ", ".join(key for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key))


def plan_import(project: Project, catalog: Catalog, existing: Mapping[str, Allocation], *, replace: bool) -> ImportPlan:
    plan = ImportPlan()
    for resource in project.resources:
        have = catalog.get(resource.name)
        if resource.name == LOCAL:
            plan.refused.append("resource local (this machine's own profile)")
        elif have is None:
            plan.resources.append(resource)
            plan.report.append(f"resource {resource.name}: added to your resources")
        elif have != resource:
            whose = "yours" if catalog.origin.get(resource.name) == "user" else "shipped with vc3tui"
            plan.replaces.append(f"resource {resource.name} ({whose}; the file's differs in {differences(have, resource)})")
            if replace:
                plan.resources.append(resource)
                plan.report.append(f"resource {resource.name}: replaced with the project's")
    for descriptor in project.allocations:
        mine = existing.get(descriptor.name)
        if descriptor.name == LOCAL:
            plan.refused.append("allocation local (this machine, built in)")
        elif mine is None or _same(mine, descriptor):
            if mine is None:
                plan.allocations.append(_needing_login(descriptor, project.name))
            plan.report.append(_login_line(descriptor) if mine is None else f"allocation {descriptor.name}: yours kept ({mine.state})")
        else:
            plan.replaces.append(f"allocation {descriptor.name} (yours on {mine.resource}; the file's is on {descriptor.resource}, account {descriptor.account or '-'})")
            if replace:
                plan.allocations.append(_needing_login(descriptor, project.name))
                plan.report.append(f"allocation {descriptor.name}: replaced; {_login_line(descriptor).split(': ', 1)[1]}")
    return plan


def _same(mine: Allocation, descriptor: AllocationDescriptor) -> bool:
    return mine.resource == descriptor.resource and (mine.account or None) == descriptor.account


def _needing_login(descriptor: AllocationDescriptor, project: str) -> Allocation:
    return Allocation(
        name=descriptor.name, resource=descriptor.resource, owner=descriptor.owner, account=descriptor.account,
        state=AllocationState.NEEDS_LOGIN, reason=f"from project {project}: log in with your own account",
    )  # fmt: skip


def _login_line(descriptor: AllocationDescriptor) -> str:
    return f"allocation {descriptor.name}: needs your login on {descriptor.resource} (`vc3tui allocation create {descriptor.name} --resource {descriptor.resource} --login YOU`)"

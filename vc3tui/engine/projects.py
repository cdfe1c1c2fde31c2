"""Projects shared without a server: a project is a TOML file the team passes around.

It names the members (with their key fingerprints, never keys), the resources and environments
they use, the blueprints they launch, the allocations they charge (resource, owner, account: no
login, no key) and the clusters they share. Importing one gives this data dir the resources,
environments and blueprints, and one allocation per descriptor marked "needs your login" until
this user brings their own login. A shared cluster has one head, its owner's; every other member
joins it as an external head and adds pilots from their own allocations.
"""

from __future__ import annotations

import base64
import binascii
import os
import pwd
import re
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import tomlkit
from pydantic import Field, ValidationError

from vc3tui.engine.blueprint import blueprint_toml, check_blueprint, finding_lines, load_known_blueprint
from vc3tui.engine.catalog import LOCAL, CatalogFiles
from vc3tui.engine.errors import VC3Error, file_errors
from vc3tui.engine.middleware.registry import middleware_for
from vc3tui.engine.models import (
    AllocationDescriptor, AllocationUse, Blueprint, Cluster, HeadPlacement, HeadSpec, ManagerAddress, Member,
    MiddlewareKind, Name, Project, SharedCluster, Strict,
)  # fmt: skip
from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.paths import Dirs, write_whole
from vc3tui.engine.project_import import ImportPlan, plan_import
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.settings import remember, setting
from vc3tui.engine.states import AllocationState
from vc3tui.engine.store import Store
from vc3tui.engine.tomlfile import FileErrors, field_problems, located, read_toml, validate_file

HINTS = {
    "owner": "the name of one of the project's members",
    "key_fingerprint": "the SHA256:... fingerprint `ssh-keygen -lf KEY.pub` prints",
}


class ProjectError(VC3Error):
    """A project request that cannot be carried out; the message says why and what to do."""


def load_project(path: Path) -> Project:
    """Read and check a project file; every problem at once, each with its line."""
    data, lines = read_toml(path, "project")
    project = validate_file(Project, data, path, lines, HINTS)
    members = {m.name for m in project.members}
    descriptors = {d.name for d in project.allocations}
    findings = []
    for index, descriptor in enumerate(project.allocations):
        if descriptor.owner not in members:
            findings.append((("allocations", index, "owner"), f"{descriptor.owner!r} is not a member", f"add [[members]] name = {descriptor.owner!r}"))
    for index, blueprint in enumerate(project.blueprints):
        for loc, message, hint in check_blueprint(blueprint, allocations=descriptors | {LOCAL}, environments={e.name for e in project.environments}):
            findings.append((("blueprints", index, *loc), message, hint))
    blueprints = {b.name for b in project.blueprints}
    for index, shared in enumerate(project.clusters):
        if shared.blueprint not in blueprints:
            findings.append((("clusters", index, "blueprint"), f"no blueprint {shared.blueprint!r} in this project", "add it under [[blueprints]]"))
    if findings:
        raise FileErrors([located(path, lines, loc, message, hint) for loc, message, hint in findings])
    return project


def project_toml(project: Project, exported_by: str) -> str:
    """The file form: defaults left out, a header saying what is (not) in it."""
    document = tomlkit.document()
    document.add(tomlkit.comment(f"vc3tui project {project.name}, exported {time.strftime('%Y-%m-%d %H:%M')} by {exported_by}"))
    document.add(tomlkit.comment("No logins and no keys: every member uses their own (vc3tui project import FILE)."))
    body = project.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    for key in ("name", "description"):
        if key in body:
            document[key] = body.pop(key)
    body.pop("blueprints", None)
    for key, items in body.items():
        document.add(tomlkit.nl())
        table = tomlkit.aot()
        for item in items:
            table.append(item)
        document[key] = table
    for blueprint in project.blueprints:
        document.add(tomlkit.nl())
        document.setdefault("blueprints", tomlkit.aot()).append(tomlkit.parse(blueprint_toml(blueprint)))
    return tomlkit.dumps(document)


def summary_lines(project: Project) -> list[str]:
    """A project as text, a section per kind of entry (empty ones left out): `project show` and the projects view."""
    lines = [f"{project.name}: {project.description or '(no description)'}", "members:"]
    lines += [f"  {m.name}{' <' + m.email + '>' if m.email else ''}{'  ' + m.key_fingerprint if m.key_fingerprint else ''}" for m in project.members]
    lines += ["allocations:"] + [f"  {d.name} on {d.resource}, owner {d.owner}{', account ' + d.account if d.account else ''}" for d in project.allocations]
    lines += ["blueprints:"] + [f"  {b.name} ({b.middleware}, {b.workers.count} workers on {', '.join(u.name for u in b.allocations)})" for b in project.blueprints]
    lines += ["resources:"] + [f"  {r.name} ({r.batch} at {', '.join(r.login_hosts) or 'the login node'})" for r in project.resources]
    lines += ["shared clusters:"] + [f"  {c.name} ({c.middleware} at {c.address}, run by {c.owner})" for c in project.clusters]
    return [line for i, line in enumerate(lines) if not (line.endswith(":") and (i + 1 == len(lines) or lines[i + 1].endswith(":")))]


class Ticket(Strict):
    """A join ticket: what another member's workers need to join my cluster."""

    cluster: Name
    middleware: MiddlewareKind
    address: ManagerAddress
    secrets: dict[str, str] = Field(default_factory=dict, description="file name -> base64 content")


def local_name(text: str) -> str:
    """A login name as a member name (1-64 of A-Z a-z 0-9 _ -)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:64] or "me"


class Projects:
    """The engine's projects: kept in the store, exchanged as files. What involves a running
    cluster (its head's secrets, launching a joined cluster) the Engine does with what this says."""

    def __init__(self, dirs: Dirs, store: AsyncStore, resources: CatalogFiles, redactor: Redactor) -> None:
        self.dirs = dirs
        self.store = store
        self.resources = resources
        self.redactor = redactor

    @property
    def me(self) -> str:
        """The member name this user goes by (settings `name`; first use: the login name)."""
        return setting(self.dirs, "name") or local_name(pwd.getpwuid(os.getuid()).pw_name)

    def call_me(self, name: str) -> None:
        Member(name=name)
        remember(self.dirs, "name", name)

    async def all(self) -> list[Project]:
        return sorted(await self.store.run(Store.projects), key=lambda p: p.name)

    async def get(self, name: str) -> Project:
        project = next((p for p in await self.all() if p.name == name), None)
        if project is None:
            raise ProjectError(f"no project named {name!r}; `vc3tui project create` or `vc3tui project import FILE`")
        return project

    async def save(self, project: Project) -> Project:
        """Store a changed project after checking it as a whole (unique names, known owners)."""
        try:
            checked = Project.model_validate(project.model_dump())
        except ValidationError as exc:
            raise ProjectError("; ".join(field_problems(Project, exc))) from None
        await self.store.run(Store.put_project, checked)
        return checked

    async def create(self, name: str, description: str = "", blueprints: Sequence[Path] = ()) -> Project:
        if any(p.name == name for p in await self.all()):
            raise ProjectError(f"project {name!r} already exists")
        try:
            project = Project(name=name, description=description, members=[Member(name=self.me)])
        except ValidationError as exc:
            raise ProjectError("; ".join(field_problems(Project, exc))) from None
        for path in blueprints:
            project = await self._with_blueprint(project, path)
        return await self.save(project)

    async def add_member(self, project_name: str, member: Member) -> Project:
        project = await self.get(project_name)
        project.members = [m for m in project.members if m.name != member.name] + [member]
        return await self.save(project)

    async def remove_member(self, project_name: str, name: str) -> Project:
        project = await self.get(project_name)
        owned = [d.name for d in project.allocations if d.owner == name]
        if owned:
            raise ProjectError(f"{name} owns {', '.join(owned)} in {project_name}; remove or re-own those allocations first")
        if not any(m.name == name for m in project.members):
            raise ProjectError(f"{name} is not a member of {project_name}")
        project.members = [m for m in project.members if m.name != name]
        return await self.save(project)

    async def add_allocation(self, project_name: str, allocation_name: str, owner: str | None = None) -> Project:
        project = await self.get(project_name)
        await self._share_allocation(project, allocation_name, owner)
        return await self.save(project)

    async def _share_allocation(self, project: Project, allocation_name: str, owner: str | None = None) -> None:
        """One of my allocations as a descriptor; a resource of my own goes into the project too."""
        if allocation_name == LOCAL:
            raise ProjectError("`local` is every member's own machine; it is not shared")
        allocation = await self.store.run(Store.allocation, allocation_name)
        if allocation is None:
            raise ProjectError(f"no allocation named {allocation_name!r}; `vc3tui allocation list` shows them")
        owner = owner or allocation.owner or self.me
        if not any(m.name == owner for m in project.members):
            raise ProjectError(f"{owner} is not a member of {project.name}; add them first (`vc3tui project add-member`)")
        descriptor = AllocationDescriptor(name=allocation.name, resource=allocation.resource, owner=owner, account=allocation.account)
        project.allocations = [d for d in project.allocations if d.name != descriptor.name] + [descriptor]
        catalog = self.resources.catalog
        if catalog.origin.get(allocation.resource) == "user":
            project.resources = [r for r in project.resources if r.name != allocation.resource] + [catalog.get(allocation.resource)]

    async def remove_allocation(self, project_name: str, name: str) -> Project:
        project = await self.get(project_name)
        used = [b.name for b in project.blueprints if any(u.name == name for u in b.allocations)]
        if used:
            raise ProjectError(f"blueprints {', '.join(used)} of {project_name} draw pilots from {name}; change them first")
        project.allocations = [d for d in project.allocations if d.name != name]
        return await self.save(project)

    async def remove_blueprint(self, project_name: str, name: str) -> Project:
        project = await self.get(project_name)
        if any(c.blueprint == name for c in project.clusters):
            raise ProjectError(f"a shared cluster of {project_name} runs blueprint {name}; it leaves the project when its owner exports after terminating it")
        project.blueprints = [b for b in project.blueprints if b.name != name]
        return await self.save(project)

    async def add_blueprint(self, project_name: str, path: Path) -> Project:
        return await self.save(await self._with_blueprint(await self.get(project_name), path))

    async def _with_blueprint(self, project: Project, path: Path) -> Project:
        """A blueprint, with my allocations and named environment it uses shared alongside it."""
        blueprint = await load_known_blueprint(self.store, path)
        project.blueprints = [b for b in project.blueprints if b.name != blueprint.name] + [blueprint]
        for use in blueprint.allocations:
            if use.name != LOCAL and not any(d.name == use.name for d in project.allocations):
                await self._share_allocation(project, use.name)
        named = {e.name: e for e in await self.store.run(Store.environments)}
        if blueprint.environment.name in named and not any(e.name == blueprint.environment.name for e in project.environments):
            project.environments.append(named[blueprint.environment.name])
        return project

    async def export(self, project_name: str, path: Path, running: Sequence[Cluster]) -> Project:
        """Write the project file, with my `running` clusters of its blueprints as shared clusters."""
        project = await self.get(project_name)
        mine = shared_clusters(project, running, self.me)
        others = [c for c in project.clusters if c.owner != self.me and not any(m.name == c.name for m in mine)]
        project.clusters = others + mine
        project = await self.save(project)
        with file_errors(path, "write the project file"):
            write_whole(path, project_toml(project, self.me).encode())
        return project

    def write_ticket(self, cluster: Cluster, secrets: dict[str, bytes], path: Path) -> list[str]:
        """A join ticket for my cluster: its address and the secrets its workers prove themselves
        with, 0600. Returns the secrets' names."""
        middleware = middleware_for(cluster.blueprint.middleware)
        ticket = Ticket(
            cluster=cluster.name, middleware=cluster.blueprint.middleware, address=middleware.join_address(cluster.head),
            secrets={name: base64.b64encode(content).decode() for name, content in secrets.items()},
        )  # fmt: skip
        document = tomlkit.document()
        document.add(tomlkit.comment(f"vc3tui join ticket for cluster {cluster.name}, made {time.strftime('%Y-%m-%d %H:%M')} by {self.me}."))
        document.add(tomlkit.comment("It lets workers into the cluster: pass it only to members, as you would a password."))
        for key, value in ticket.model_dump(mode="json").items():
            document[key] = value
        with file_errors(path, "write the join ticket"):
            write_whole(path, tomlkit.dumps(document).encode(), 0o600)
        return sorted(secrets)

    def _unpack_ticket(self, path: Path, shared: SharedCluster) -> tuple[str, Path]:
        """A join ticket's address, and its secrets written 0600 into a 0700 folder of the data dir."""
        data, lines = read_toml(path, "join ticket")
        ticket = validate_file(Ticket, data, path, lines)
        if ticket.cluster != shared.name or ticket.middleware is not shared.middleware:
            raise ProjectError(f"{path} is a ticket for {ticket.middleware} cluster {ticket.cluster}, not for {shared.middleware} cluster {shared.name}")
        allowed = middleware_for(ticket.middleware).worker_secrets
        unknown = sorted(set(ticket.secrets) - set(allowed))
        if unknown:
            raise ProjectError(f"{path}: {', '.join(unknown)} is not a secret of {ticket.middleware} workers ({', '.join(allowed)}); ask for a new ticket")
        folder = self.dirs.data / "tickets" / shared.name
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        for name, content in ticket.secrets.items():
            try:
                secret = base64.b64decode(content, validate=True)
            except binascii.Error:
                raise ProjectError(f"{path}: secrets.{name} is not base64; ask for a new ticket") from None
            self.redactor.add(secret)
            write_whole(folder / name, secret, 0o600)
        return ticket.address, folder

    async def would_replace(self, path: Path) -> list[str]:
        """What of the user's importing this file would replace (asked before an import)."""
        return (await self._import_plan(load_project(path), False)).replaces

    async def _import_plan(self, project: Project, replace: bool) -> ImportPlan:
        existing = {a.name: a for a in await self.store.run(Store.allocations)}
        return plan_import(project, self.resources.catalog, existing, replace=replace)

    async def import_file(self, path: Path, *, replace: bool = False) -> tuple[Project, list[str]]:
        """Take in a project file: its resources, environments and blueprints, and its allocations
        as "needs your login". Replacing a resource or allocation of the user's takes `replace`.
        Returns the project and one line per thing done or kept."""
        project = load_project(path)
        plan = await self._import_plan(project, replace)
        if plan.refused:
            raise ProjectError(f"{path} names {'; '.join(plan.refused)}, which no project may replace; ask its owner to rename it")
        if plan.replaces and not replace:
            raise ProjectError(f"{path} would replace {'; '.join(plan.replaces)}; nothing was imported: run again with --replace to take the project's")
        for resource in plan.resources:
            self.resources.save(resource)
        for allocation in plan.allocations:
            await self.store.run(Store.put_allocation, allocation)
        report = plan.report
        for environment in project.environments:
            await self.store.run(Store.put_environment, environment)
            report.append(f"environment {environment.name}: saved")
        for path_written in self.write_blueprints(project):
            report.append(f"blueprint {path_written.stem}: {path_written}")
        await self.save(project)
        return project, report

    def write_blueprints(self, project: Project) -> list[Path]:
        """The project's blueprints as files in the data dir, for `vc3tui --run` and the launch form."""
        folder = self.blueprint_dir(project.name)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for blueprint in project.blueprints:
            path = folder / f"{blueprint.name}.toml"
            with file_errors(path, "write the blueprint"):
                write_whole(path, blueprint_toml(blueprint).encode())
            written.append(path)
        return written

    def blueprint_dir(self, project_name: str) -> Path:
        return self.dirs.data / "projects" / project_name

    async def joinable(self, live: Collection[str]) -> list[tuple[Project, SharedCluster]]:
        """Other members' shared clusters whose names are not `live` here."""
        return [(p, c) for p in await self.all() for c in p.clusters if c.owner != self.me and c.name not in live]

    async def joining(self, name: str, live: Collection[str], *, allocations: list[str] | None = None, workers: int | None = None, ticket: Path | None = None) -> Blueprint:
        """The blueprint that adds pilots from my allocations to another member's cluster: a cluster
        of my own whose head is theirs (external), with the blueprint's environment and worker
        shape; `ticket` brings the secrets its workers need."""
        joinable = await self.joinable(live)
        matches = [(p, c) for p, c in joinable if c.name == name]
        if not matches:
            named = [c for p in await self.all() for c in p.clusters if c.name == name]
            if any(c.owner == self.me for c in named):
                raise ProjectError(f"{name} is your own cluster; resize it instead (`vc3tui cluster resize {name} N`)")
            if named:
                raise ProjectError(f"you already run a cluster named {name} here; `vc3tui cluster list` shows it")
            others = sorted(c.name for _, c in joinable)
            hint = f"you can join: {', '.join(others)}" if others else "import the project file its owner exported after launching it"
            raise ProjectError(f"no shared cluster {name!r} to join ({hint})")
        project, shared = matches[0]
        if shared.ticket and ticket is None:
            raise ProjectError(
                f"{name}'s workers prove themselves with its secrets: ask {shared.owner} for a join ticket "
                f"(`vc3tui cluster invite {name} --to FILE`) and join with --ticket FILE"
            )
        address, secrets = self._unpack_ticket(ticket, shared) if ticket else (shared.address, None)
        blueprint = next(b for b in project.blueprints if b.name == shared.blueprint)
        mine = await self.store.run(Store.allocations)
        ready = {a.name for a in mine if a.state is AllocationState.READY}
        chosen = allocations or [d.name for d in project.allocations if d.name in ready]
        if not chosen:
            raise ProjectError(f"none of {project.name}'s allocations is ready here: log in to one (the Allocations view, or `vc3tui allocation create`), or choose an allocation of yours")
        body = blueprint.model_dump(exclude={"head", "allocations", "autoscale", "entry"})
        body |= {
            "name": shared.name,
            "description": f"{shared.owner}'s {shared.name} ({project.name}), joined with my allocations",
            "head": HeadSpec(placement=HeadPlacement.EXTERNAL, address=address, secrets=str(secrets) if secrets else None),
            "allocations": [AllocationUse(name=a) for a in chosen],
        }
        if workers is not None:
            body["workers"]["count"] = workers
        try:
            joined = Blueprint.model_validate(body)
        except ValidationError as exc:
            raise ProjectError("; ".join(field_problems(Blueprint, exc))) from None
        environments = {e.name for e in await self.store.run(Store.environments) if e.name}
        problems = check_blueprint(joined, allocations={LOCAL, *(a.name for a in mine)}, environments=environments)
        if problems:
            raise ProjectError("; ".join(finding_lines(problems)))
        return joined


def shared_clusters(project: Project, running: Sequence[Cluster], me: str) -> list[SharedCluster]:
    """My running clusters of the project's blueprints, as its other members see them."""
    blueprints = {b.name for b in project.blueprints}
    shared = []
    for cluster in running:
        head = cluster.head
        middleware = middleware_for(cluster.blueprint.middleware)
        if cluster.blueprint.name in blueprints and middleware.has_manager and head and not head.external and head.address:
            shared.append(SharedCluster(
                name=cluster.name, blueprint=cluster.blueprint.name, owner=me, middleware=cluster.blueprint.middleware,
                address=middleware.join_address(head), ticket=middleware.ticket_needed(head),
            ))  # fmt: skip
    return shared

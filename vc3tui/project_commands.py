"""`vc3tui project ...` and `vc3tui cluster join`: a team's project file made, shown, passed on and
taken in, and another member's cluster joined with one's own allocations."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vc3tui.engine.engine import Engine
from vc3tui.engine.models import Member
from vc3tui.engine.projects import summary_lines
from vc3tui.printing import print_table


def add_project_parsers(commands: argparse._SubParsersAction) -> None:
    project = commands.add_parser("project", help="projects shared as files: members, allocations, blueprints").add_subparsers(dest="action", metavar="ACTION", required=True)
    project.add_parser("list", help="list projects")
    create = project.add_parser("create", help="start a project with you as its first member")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--blueprint", action="append", default=[], type=Path, metavar="FILE", help="a blueprint to share (repeatable); its allocations are shared with it")
    create.add_argument("--as", dest="me", metavar="NAME", help="your member name (remembered; default: your login name)")
    show = project.add_parser("show", help="show a project")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    export = project.add_parser("export", help="write the project file to pass to the other members")
    export.add_argument("name")
    export.add_argument("file", type=Path)
    take = project.add_parser("import", help="take in a project file: resources, blueprints, allocations needing your login")
    take.add_argument("file", type=Path)
    take.add_argument("--as", dest="me", metavar="NAME", help="your member name (remembered; default: your login name)")
    member = project.add_parser("add-member", help="add (or update) a member")
    member.add_argument("name")
    member.add_argument("member")
    member.add_argument("--email", default="")
    member.add_argument("--key-fingerprint", default="", metavar="SHA256:...", help="the fingerprint of the member's key (never the key)")
    unmember = project.add_parser("remove-member", help="remove a member who owns no allocation")
    unmember.add_argument("name")
    unmember.add_argument("member")
    allocation = project.add_parser("add-allocation", help="share one of your allocations (resource, owner, account; no login, no key)")
    allocation.add_argument("name")
    allocation.add_argument("allocation")
    allocation.add_argument("--owner", help="the member who owns it (default: you)")
    unallocation = project.add_parser("remove-allocation", help="stop sharing an allocation")
    unallocation.add_argument("name")
    unallocation.add_argument("allocation")
    blueprint = project.add_parser("add-blueprint", help="share a blueprint (and the allocations it uses)")
    blueprint.add_argument("name")
    blueprint.add_argument("file", type=Path)


def add_join_parser(cluster: argparse._SubParsersAction) -> None:
    join = cluster.add_parser("join", help="add pilots from your allocations to another member's shared cluster")
    join.add_argument("name")
    join.add_argument("--allocation", action="append", default=[], metavar="NAME", help="draw pilots from this allocation (repeatable; default: the project's ready ones)")
    join.add_argument("--workers", type=int, help="how many workers you add (default: the blueprint's count)")
    join.add_argument("--ticket", type=Path, metavar="FILE", help="the join ticket the cluster's owner gave you (`vc3tui cluster invite`)")
    invite = cluster.add_parser("invite", help="write a join ticket (0600) that lets members' workers into your cluster")
    invite.add_argument("name")
    invite.add_argument("--to", type=Path, required=True, metavar="FILE")


async def project_list(engine: Engine, args: argparse.Namespace) -> int:
    print_table(
        ("NAME", "MEMBERS", "ALLOCATIONS", "BLUEPRINTS", "CLUSTERS", "DESCRIPTION"),
        [(p.name, len(p.members), len(p.allocations), len(p.blueprints), len(p.clusters), p.description) for p in await engine.projects.all()],
    )
    return 0


async def project_create(engine: Engine, args: argparse.Namespace) -> int:
    if args.me:
        engine.projects.call_me(args.me)
    project = await engine.projects.create(args.name, args.description, args.blueprint)
    print(f"project {project.name} created with you ({engine.projects.me}) as its member; `vc3tui project export {project.name} FILE` to share it")
    return 0


async def project_show(engine: Engine, args: argparse.Namespace) -> int:
    project = await engine.projects.get(args.name)
    if args.json:
        print(json.dumps(project.model_dump(mode="json"), indent=2))
        return 0
    for line in summary_lines(project):
        print(line)
    return 0


async def project_export(engine: Engine, args: argparse.Namespace) -> int:
    project = await engine.export_project(args.name, args.file)
    print(f"project {project.name} written to {args.file} ({len(project.members)} members, {len(project.allocations)} allocations, "
          f"{len(project.blueprints)} blueprints, {len(project.clusters)} shared clusters; no logins, no keys)")  # fmt: skip
    return 0


async def project_import(engine: Engine, args: argparse.Namespace) -> int:
    if args.me:
        engine.projects.call_me(args.me)
    project, report = await engine.projects.import_file(args.file)
    print(f"project {project.name} imported:")
    for line in report:
        print(f"  {line}")
    return 0


async def project_add_member(engine: Engine, args: argparse.Namespace) -> int:
    member = Member(name=args.member, email=args.email, key_fingerprint=args.key_fingerprint)
    await engine.projects.add_member(args.name, member)
    print(f"project {args.name}: member {member.name} added")
    return 0


async def project_remove_member(engine: Engine, args: argparse.Namespace) -> int:
    await engine.projects.remove_member(args.name, args.member)
    print(f"project {args.name}: member {args.member} removed")
    return 0


async def project_add_allocation(engine: Engine, args: argparse.Namespace) -> int:
    await engine.projects.add_allocation(args.name, args.allocation, args.owner)
    print(f"project {args.name}: allocation {args.allocation} shared (resource, owner and account; no login, no key)")
    return 0


async def project_remove_allocation(engine: Engine, args: argparse.Namespace) -> int:
    await engine.projects.remove_allocation(args.name, args.allocation)
    print(f"project {args.name}: allocation {args.allocation} no longer shared")
    return 0


async def project_add_blueprint(engine: Engine, args: argparse.Namespace) -> int:
    project = await engine.projects.add_blueprint(args.name, args.file)
    print(f"project {project.name}: blueprints {', '.join(b.name for b in project.blueprints)}")
    return 0


async def cluster_join(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await engine.join(args.name, allocations=args.allocation or None, workers=args.workers, ticket=args.ticket)
    await engine.release(cluster.id)
    log = engine.hand_off(cluster.name)
    print(f"cluster {cluster.name}: joining {cluster.blueprint.head.address} with {cluster.requested} workers from "
          f"{', '.join(u.name for u in cluster.blueprint.allocations)}; managed in the background (log {log})")  # fmt: skip
    return 0


async def cluster_invite(engine: Engine, args: argparse.Namespace) -> int:
    secrets = await engine.invite(args.name, args.to)
    print(f"join ticket for {args.name} written to {args.to} (0600; holds {', '.join(secrets) or 'no secret'}): "
          "pass it only to members, as you would a password")  # fmt: skip
    return 0


PROJECT_HANDLERS = {
    ("project", "list"): project_list,
    ("project", "create"): project_create,
    ("project", "show"): project_show,
    ("project", "export"): project_export,
    ("project", "import"): project_import,
    ("project", "add-member"): project_add_member,
    ("project", "remove-member"): project_remove_member,
    ("project", "add-allocation"): project_add_allocation,
    ("project", "remove-allocation"): project_remove_allocation,
    ("project", "add-blueprint"): project_add_blueprint,
    ("cluster", "join"): cluster_join,
    ("cluster", "invite"): cluster_invite,
}

"""`vc3tui project ...`: a team's project file made, shown, passed on and taken in."""

from __future__ import annotations

import argparse
import json

from vc3tui.cli.printing import print_table
from vc3tui.engine import Engine, Member, checked, summary_lines


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
    project, report = await engine.projects.import_file(args.file, replace=args.replace)
    print(f"project {project.name} imported:")
    for line in report:
        print(f"  {line}")
    return 0


async def project_add_member(engine: Engine, args: argparse.Namespace) -> int:
    member = checked(Member, {"name": args.member, "email": args.email, "key_fingerprint": args.key_fingerprint}, "member")
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


HANDLERS = {
    "list": project_list, "create": project_create, "show": project_show, "export": project_export, "import": project_import,
    "add-member": project_add_member, "remove-member": project_remove_member, "add-allocation": project_add_allocation,
    "remove-allocation": project_remove_allocation, "add-blueprint": project_add_blueprint,
}  # fmt: skip

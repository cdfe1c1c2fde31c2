"""`vc3tui resource ...`: the catalog of sites, shipped and the user's own."""

from __future__ import annotations

import argparse
import json

from vc3tui.cli.printing import print_pairs, print_table, stated
from vc3tui.engine import Engine, Resource, VC3Error, checked


async def resource_list(engine: Engine, args: argparse.Namespace) -> int:
    catalog = engine.catalog
    resources = catalog.sorted(retired=args.all)
    if args.json:
        print(json.dumps([resource_json(r, catalog.origin[r.name]) for r in resources], indent=2))
        return 0
    print_table(
        ("NAME", "BATCH", "CORES", "MEM_MB", "DISK_MB", "OS", "FEATURES", "ORGANIZATION", *(("RETIRED",) if args.all else ())),
        [
            (r.name, r.batch, *(stated(v) for v in (r.node.cores, r.node.memory_mb, r.node.disk_mb)), r.native_os,
             ",".join(r.features) or "-", r.organization, *((stated(r.retired),) if args.all else ()))
            for r in resources
        ],
    )  # fmt: skip
    return 0


async def resource_show(engine: Engine, args: argparse.Namespace) -> int:
    catalog = engine.catalog
    resource = catalog.get(args.name)
    if resource is None:
        raise VC3Error(f"no resource named {args.name!r}; `vc3tui resource list` shows the catalog")
    if args.json:
        print(json.dumps(resource_json(resource, catalog.origin[resource.name]), indent=2))
        return 0
    node = resource.node
    print_pairs([
        ("name", resource.name),
        ("title", resource.title),
        ("organization", resource.organization),
        ("description", resource.description),
        ("login hosts", ", ".join(resource.login_hosts) or "(this machine)"),
        ("port", resource.port or "from ~/.ssh/config, else 22"),
        ("proxy jump", resource.proxy_jump or "from ~/.ssh/config, else none"),
        ("batch system", resource.batch),
        ("partition", resource.partition or "-"),
        ("node", f"{stated(node.cores)} cores, {stated(node.memory_mb)} MB memory, {stated(node.disk_mb)} MB disk"),
        ("native OS", resource.native_os),
        ("features", ", ".join(resource.features) or "-"),
        ("scratch dir", resource.scratch_dir or "-"),
        ("MFA", resource.mfa or "-"),
        ("docs", resource.docs_url or "-"),
        ("from", catalog.origin[resource.name]),
        *((("retired", resource.retired),) if resource.retired else ()),
    ])  # fmt: skip
    return 0


async def resource_add(engine: Engine, args: argparse.Namespace) -> int:
    if args.from_ssh_config:
        engine.access.ssh_host(args.from_ssh_config)
    resource = checked(Resource, {
        "name": args.name, "login_hosts": [args.host or args.from_ssh_config], "port": args.port, "proxy_jump": args.proxy_jump, "batch": args.batch,
        "partition": args.partition, "node": {"cores": args.cores, "memory_mb": args.memory_mb, "disk_mb": args.disk_mb},
        "scratch_dir": args.scratch, "description": args.description, "batch_options": args.batch_option,
    }, "resource")  # fmt: skip
    engine.save_resource(resource)
    print(f"resource {resource.name} saved in {engine.dirs.user_resources}")
    return 0


async def resource_remove(engine: Engine, args: argparse.Namespace) -> int:
    if not engine.remove_resource(args.name):
        raise VC3Error(f"{args.name!r} is not in {engine.dirs.user_resources} (shipped resources cannot be removed)")
    print(f"resource {args.name} removed")
    return 0


def resource_json(resource: Resource, origin: str) -> dict:
    return {**resource.model_dump(mode="json"), "origin": origin}


HANDLERS = {"list": resource_list, "show": resource_show, "add": resource_add, "remove": resource_remove}

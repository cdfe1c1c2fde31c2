"""Scripting commands: `vc3tui resource ...`, `allocation ...` and `cluster ...`, mirroring the VC3 client."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from pydantic import ValidationError

from vc3tui.engine.durations import parse_duration
from vc3tui.engine.engine import Engine
from vc3tui.engine.keys import authorized_keys_script, load_public
from vc3tui.engine.models import Allocation, BatchKind, NodeShape, Resource, StageResult
from vc3tui.engine.ssh_config import config_path, host_entries
from vc3tui.engine.questions import QuestionKind
from vc3tui.engine.states import ClusterState
from vc3tui.engine.tomlfile import validation_summary
from vc3tui.printing import print_pairs, print_table
from vc3tui.new_blueprint import add_blueprint_parsers, blueprint_new
from vc3tui.project_commands import PROJECT_HANDLERS, add_join_parser, add_project_parsers
from vc3tui.terminal import answer_on_terminal


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def add_parsers(commands: argparse._SubParsersAction) -> None:
    resource = commands.add_parser("resource", help="the resource catalog").add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = resource.add_parser("list", help="list catalog resources")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--all", action="store_true", help="retired sites too")
    show = resource.add_parser("show", help="show one resource")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")
    add = resource.add_parser("add", help="add or replace a resource in your resources.toml")
    add.add_argument("name")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="login host")
    where.add_argument("--from-ssh-config", metavar="HOST", help="a Host entry of ~/.ssh/config (its HostName, Port, User, ProxyJump, IdentityFile)")
    add.add_argument("--port", type=int, help="SSH port (default: ~/.ssh/config's, else 22)")
    add.add_argument("--batch", required=True, choices=[k.value for k in BatchKind])
    add.add_argument("--partition")
    add.add_argument("--cores", type=int, help="cores per node")
    add.add_argument("--memory-mb", type=int, help="memory per node")
    add.add_argument("--disk-mb", type=int, help="local disk per node")
    add.add_argument("--scratch", help="scratch directory on the site, e.g. '$SCRATCH'")
    add.add_argument("--description", default="")
    add.add_argument("--batch-option", action="append", default=[], metavar="--NAME=VALUE", help="extra batch directive (repeatable)")
    remove = resource.add_parser("remove", help="remove a resource from your resources.toml")
    remove.add_argument("name")

    allocation = commands.add_parser("allocation", help="your accounts on resources").add_subparsers(dest="action", metavar="ACTION", required=True)
    create = allocation.add_parser("create", help="create an allocation and its key pair")
    create.add_argument("name")
    create.add_argument("--resource", required=True)
    create.add_argument("--login", help="your user name on the site")
    create.add_argument("--account", help="project/account string for the batch system")
    create.add_argument("--key", type=Path, help="use this existing private key (and KEY-cert.pub) instead of a new one")
    create.add_argument("--passphrase", action="store_true", help="protect the new key with a passphrase (asked, never on the command line)")
    listing = allocation.add_parser("list", help="list allocations")
    listing.add_argument("--json", action="store_true")
    show = allocation.add_parser("show", help="show an allocation and its validation report")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    install = allocation.add_parser("install-key", help="install the key on the site")
    install.add_argument("name")
    install.add_argument("--print", action="store_true", help="only print the line to paste on the site")
    install.add_argument("--accept-host-key", metavar="SHA256:...")
    check = allocation.add_parser("validate", help="check the allocation stage by stage")
    check.add_argument("name")
    check.add_argument("--accept-host-key", metavar="SHA256:...")
    check.add_argument("--json", action="store_true")
    delete = allocation.add_parser("delete", help="forget an allocation (its key stays in the data dir)")
    delete.add_argument("name")

    add_blueprint_parsers(commands)

    cluster = commands.add_parser("cluster", help="clusters in the store").add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = cluster.add_parser("list", help="list clusters")
    listing.add_argument("--all", action="store_true", help="include terminated clusters")
    listing.add_argument("--json", action="store_true")
    show = cluster.add_parser("show", help="show a cluster, its pilots and last failures")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    resize = cluster.add_parser("resize", help="set the number of workers (carried out by the process managing it)")
    resize.add_argument("name")
    resize.add_argument("count", type=int)
    resize.add_argument("--no-peaceful", action="store_true", help="cancel at once instead of draining")
    terminate = cluster.add_parser("terminate", help="terminate a cluster")
    terminate.add_argument("name")
    terminate.add_argument("--no-peaceful", action="store_true")
    manage = cluster.add_parser("manage", help="run a live cluster's factory here until the cluster ends (the app hands clusters over this way)")
    manage.add_argument("name")
    extend = cluster.add_parser("extend", help="push a cluster's expiration back")
    extend.add_argument("name")
    extend.add_argument("duration", help="from now, e.g. 24h")
    add_join_parser(cluster)
    add_project_parsers(commands)


def run_command(args: argparse.Namespace) -> int:
    return asyncio.run(_dispatch(args))


async def _dispatch(args: argparse.Namespace) -> int:
    engine = Engine(interactive=not args.no_input)
    answering = asyncio.create_task(answer_on_terminal(engine.questions))
    try:
        handler = HANDLERS[(args.command, args.action)]
        return await handler(engine, args)
    except ValidationError as exc:
        raise UserError(validation_summary(exc)) from None
    finally:
        answering.cancel()
        await engine.close()


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


def stated(value: object) -> object:
    """A fact the profile does not state shows as `-`."""
    return "-" if value is None else value


async def resource_show(engine: Engine, args: argparse.Namespace) -> int:
    catalog = engine.catalog
    resource = catalog.get(args.name)
    if resource is None:
        raise UserError(f"no resource named {args.name!r}; `vc3tui resource list` shows the catalog")
    if args.json:
        print(json.dumps(resource_json(resource, catalog.origin[resource.name]), indent=2))
        return 0
    print_pairs([
        ("name", resource.name),
        ("title", resource.title),
        ("organization", resource.organization),
        ("description", resource.description),
        ("login hosts", ", ".join(resource.login_hosts) or "(this machine)"),
        ("port", resource.port or "from ~/.ssh/config, else 22"),
        ("batch system", resource.batch),
        ("partition", resource.partition or "-"),
        ("node", f"{stated(resource.node.cores)} cores, {stated(resource.node.memory_mb)} MB memory, {stated(resource.node.disk_mb)} MB disk"),
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
    if args.from_ssh_config and args.from_ssh_config not in host_entries():
        known = ", ".join(host_entries()) or "none"
        raise UserError(f"no `Host {args.from_ssh_config}` in {config_path()}; its Host entries: {known}")
    resource = Resource(
        name=args.name, login_hosts=[args.host or args.from_ssh_config], port=args.port, batch=args.batch, partition=args.partition,
        node=NodeShape(cores=args.cores, memory_mb=args.memory_mb, disk_mb=args.disk_mb),
        scratch_dir=args.scratch, description=args.description, batch_options=args.batch_option,
    )  # fmt: skip
    engine.save_resource(resource)
    print(f"resource {resource.name} saved in {engine.dirs.user_resources}")
    return 0


async def resource_remove(engine: Engine, args: argparse.Namespace) -> int:
    if not engine.remove_resource(args.name):
        raise UserError(f"{args.name!r} is not in {engine.dirs.user_resources} (shipped resources cannot be removed)")
    print(f"resource {args.name} removed")
    return 0


async def allocation_create(engine: Engine, args: argparse.Namespace) -> int:
    Allocation(name=args.name, resource=args.resource, login=args.login, account=args.account)
    passphrase = None
    if args.passphrase:
        passphrase = await engine.questions.ask(QuestionKind.PASSWORD, "Passphrase for the new key:", about=f"allocation {args.name}")
        if passphrase != await engine.questions.ask(QuestionKind.PASSWORD, "Same passphrase again:", about=f"allocation {args.name}"):
            raise UserError("the passphrases differ; nothing was created")
    allocation, pair = await engine.access.create(
        args.name, args.resource, args.login, key_path=args.key, account=args.account, passphrase=passphrase or None
    )
    print(f"allocation {allocation.name} created; key {pair.private} ({pair.fingerprint})")
    print("install the key with `vc3tui allocation install-key " + allocation.name + "`, or paste this line on the site:")
    print(f"  {paste_line(pair.public_line)}")
    return 0


async def allocation_list(engine: Engine, args: argparse.Namespace) -> int:
    allocations = await engine.allocations()
    if args.json:
        print(json.dumps([a.model_dump(mode="json") for a in allocations], indent=2))
        return 0
    print_table(("NAME", "RESOURCE", "LOGIN", "STATE", "REASON"), [(a.name, a.resource, a.login or "-", a.state, a.reason) for a in allocations])
    return 0


async def allocation_show(engine: Engine, args: argparse.Namespace) -> int:
    allocation = await engine.allocation(args.name)
    if args.json:
        print(json.dumps(allocation.model_dump(mode="json"), indent=2))
        return 0
    expiry = time.strftime("%Y-%m-%d %H:%M", time.localtime(allocation.certificate_expires)) if allocation.certificate_expires else "-"
    print_pairs([
        ("name", allocation.name), ("resource", allocation.resource), ("login", allocation.login or "-"),
        ("account", allocation.account or "-"), ("key", allocation.key_path or "-"), ("certificate expires", expiry),
        ("state", allocation.state), ("reason", allocation.reason or "-"), ("working dir", allocation.workdir or "-"),
        ("landed on", allocation.landed_on or "-"),
    ])  # fmt: skip
    for stage in allocation.report:
        print(stage_line(stage))
    return 0


async def allocation_install_key(engine: Engine, args: argparse.Namespace) -> int:
    allocation = await engine.allocation(args.name)
    pair = load_public(Path(allocation.key_path))
    if args.print:
        print(paste_line(pair.public_line))
        return 0
    landed = await engine.access.install_key(allocation, accept_host_key=args.accept_host_key)
    print(f"key {pair.fingerprint} installed for {allocation.login or 'you'} on {landed}")
    return 0


async def allocation_validate(engine: Engine, args: argparse.Namespace) -> int:
    allocation = await engine.allocation(args.name)
    show = (lambda stage: print(json.dumps(stage.model_dump(mode="json")), flush=True)) if args.json else (lambda stage: print(stage_line(stage), flush=True))
    allocation = await engine.access.validate(allocation, accept_host_key=args.accept_host_key, on_stage=show)
    if not args.json:
        print(f"allocation {allocation.name}: {allocation.state} ({allocation.reason})")
    return 0 if allocation.state == "ready" else 1


async def allocation_delete(engine: Engine, args: argparse.Namespace) -> int:
    await engine.delete_allocation(args.name)
    print(f"allocation {args.name} deleted")
    return 0


async def live_cluster(engine: Engine, name: str):
    cluster = await engine.live_cluster(name)
    if cluster is None:
        raise UserError(f"no live cluster named {name!r}; `vc3tui cluster list` shows them")
    return cluster


async def cluster_list(engine: Engine, args: argparse.Namespace) -> int:
    rows = await engine.cluster_rows(include_terminated=args.all)
    if args.json:
        print(json.dumps([{"id": r.cluster.id, "name": r.cluster.name, "state": r.cluster.state, "reason": r.cluster.reason,
                           "counts": r.counts.model_dump()} for r in rows], indent=2))  # fmt: skip
        return 0
    print_table(
        ("NAME", "STATE", "MIDDLEWARE", "REQ", "RUN", "QUEUE", "ERR", "REASON"),
        [(r.cluster.name, r.cluster.state, r.cluster.blueprint.middleware, r.counts.requested, r.counts.running,
          r.counts.queued, r.counts.error, r.cluster.reason) for r in rows],  # fmt: skip
    )
    return 0


async def cluster_show(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    row, pilots = await engine.status(cluster.id), await engine.pilots(cluster.id)
    failures = {}
    for pilot in pilots:
        if pilot.state in ("failed", "held", "lost"):
            failures.setdefault(pilot.allocation, []).append(f"pilot {pilot.index}: {pilot.state}: {pilot.reason}")
    if args.json:
        print(json.dumps({"cluster": cluster.model_dump(mode="json"), "counts": row.counts.model_dump(),
                          "pilots": [p.model_dump(mode="json") for p in pilots], "last_failures": failures}, indent=2))  # fmt: skip
        return 0
    c = row.counts
    print_pairs([
        ("name", cluster.name), ("id", cluster.id), ("state", cluster.state), ("reason", cluster.reason),
        ("conditions", "; ".join(f"{x.kind}{'(' + x.allocation + ')' if x.allocation else ''}: {x.reason}" for x in cluster.conditions) or "-"),
        ("middleware", cluster.blueprint.middleware), ("head", cluster.head.address if cluster.head else "-"),
        ("counts", f"requested {c.requested}, running {c.running}, queued {c.queued}, error {c.error}, joined {c.joined}"),
        ("expires", time.strftime("%Y-%m-%d %H:%M", time.localtime(cluster.expires_at)) if cluster.expires_at else "-"),
    ])  # fmt: skip
    for allocation, lines in failures.items():
        print(f"last failures on {allocation}:")
        for line in lines[-5:]:
            print(f"  {line}")
    return 0


async def cluster_resize(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    await engine.resize(cluster.id, args.count, peaceful=not args.no_peaceful)
    print(f"cluster {cluster.name}: {args.count} workers requested ({'at once' if args.no_peaceful else 'peaceful'})")
    return 0


async def cluster_terminate(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    await engine.terminate(cluster.id, peaceful=not args.no_peaceful)
    print(f"cluster {cluster.name}: termination requested")
    return 0


async def cluster_manage(engine: Engine, args: argparse.Namespace) -> int:
    if await engine.live_cluster(args.name) is None and any(r.cluster.name == args.name for r in await engine.cluster_rows()):
        print(f"cluster {args.name}: already terminated; nothing to manage", flush=True)
        return 0
    cluster = await live_cluster(engine, args.name)
    if not await engine.manage(cluster.id):
        raise UserError(f"cluster {cluster.name} is managed by another live process; resize or terminate it from anywhere, it follows the store")
    print(f"cluster {cluster.name}: managed by this process (pid {os.getpid()}) until it ends", flush=True)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED)
    print(f"cluster {cluster.name}: {row.cluster.state}: {row.cluster.reason}", flush=True)
    return 0


async def cluster_extend(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    try:
        seconds = parse_duration(args.duration)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    await engine.extend(cluster.id, seconds)
    print(f"cluster {cluster.name}: expires {time.strftime('%Y-%m-%d %H:%M', time.localtime(time.time() + seconds))}")
    return 0


HANDLERS = {
    ("resource", "list"): resource_list,
    ("resource", "show"): resource_show,
    ("resource", "add"): resource_add,
    ("resource", "remove"): resource_remove,
    ("allocation", "create"): allocation_create,
    ("allocation", "list"): allocation_list,
    ("allocation", "show"): allocation_show,
    ("allocation", "install-key"): allocation_install_key,
    ("allocation", "validate"): allocation_validate,
    ("allocation", "delete"): allocation_delete,
    ("cluster", "list"): cluster_list,
    ("cluster", "show"): cluster_show,
    ("cluster", "resize"): cluster_resize,
    ("cluster", "terminate"): cluster_terminate,
    ("cluster", "extend"): cluster_extend,
    ("cluster", "manage"): cluster_manage,
    ("blueprint", "new"): blueprint_new,
    **PROJECT_HANDLERS,
}


def paste_line(public_line: str) -> str:
    """The one line a user pastes on the site: private umask, idempotent append."""
    return authorized_keys_script(public_line)


def stage_line(stage: StageResult) -> str:
    mark = "ok  " if stage.ok else "FAIL"
    fix = f"\n        fix: {stage.fix}" if stage.fix and not stage.ok else ""
    return f"  {mark} {stage.stage:<17} {stage.seconds:6.2f}s  {stage.detail}{fix}"


def resource_json(resource: Resource, origin: str) -> dict:
    return {**resource.model_dump(mode="json"), "origin": origin}

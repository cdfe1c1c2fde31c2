"""Command line: the full-screen app by default, a headless runner with --run, scripting commands.

Every failure the user can cause ends as one line per problem on stderr and exit status 2;
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vc3tui import __version__
from vc3tui.engine.engine import Engine, EngineError
from vc3tui.engine.models import Resource
from vc3tui.engine.store import StoreError
from vc3tui.engine.tomlfile import FileErrors
from vc3tui.headless import run_headless

USAGE_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vc3tui",
        description="Virtual clusters from the logins you already have. With no arguments, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"vc3tui {__version__}")
    parser.add_argument("--run", metavar="BLUEPRINT", type=Path, help="run a blueprint headless")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per line with --run)")
    parser.add_argument("--no-input", action="store_true", help="never prompt; fail where an answer is needed")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    resource = commands.add_parser("resource", help="the resource catalog").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    listing = resource.add_parser("list", help="list catalog resources")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = resource.add_parser("show", help="show one resource")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "resource":
            return resource_command(args)
        if args.run is not None:
            return asyncio.run(run_headless(args.run, json_lines=args.json, interactive=not args.no_input))
        return open_app()
    except FileErrors as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return USAGE_ERROR
    except (UserError, StoreError, EngineError) as exc:
        print(f"vc3tui: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130


def open_app() -> int:
    from vc3tui.app import VC3App

    engine = Engine()
    VC3App(engine).run()
    asyncio.run(engine.close())
    return 0


def resource_command(args: argparse.Namespace) -> int:
    engine = Engine()
    try:
        catalog = engine.catalog
        if args.action == "list":
            resources = catalog.sorted()
            if args.json:
                print(json.dumps([resource_json(r, catalog.origin[r.name]) for r in resources], indent=2))
            else:
                print_table(
                    ("NAME", "BATCH", "CORES", "MEM_MB", "DISK_MB", "OS", "FEATURES", "ORGANIZATION"),
                    [
                        (r.name, r.batch, r.node.cores, r.node.memory_mb, r.node.disk_mb, r.native_os,
                         ",".join(r.features) or "-", r.organization)  # fmt: skip
                        for r in resources
                    ],
                )
            return 0
        resource = catalog.get(args.name)
        if resource is None:
            raise UserError(f"no resource named {args.name!r}; `vc3tui resource list` shows the catalog")
        if args.json:
            print(json.dumps(resource_json(resource, catalog.origin[resource.name]), indent=2))
        else:
            print_resource(resource, catalog.origin[resource.name])
        return 0
    finally:
        asyncio.run(engine.close())


def resource_json(resource: Resource, origin: str) -> dict:
    return {**resource.model_dump(mode="json"), "origin": origin}


def print_resource(resource: Resource, origin: str) -> None:
    rows = [
        ("name", resource.name),
        ("title", resource.title),
        ("organization", resource.organization),
        ("description", resource.description),
        ("login hosts", ", ".join(resource.login_hosts) or "(this machine)"),
        ("port", resource.port),
        ("batch system", resource.batch),
        ("partition", resource.partition or "-"),
        ("node", f"{resource.node.cores} cores, {resource.node.memory_mb} MB memory, {resource.node.disk_mb} MB disk"),
        ("native OS", resource.native_os),
        ("features", ", ".join(resource.features) or "-"),
        ("scratch dir", resource.scratch_dir or "-"),
        ("docs", resource.docs_url or "-"),
        ("from", origin),
    ]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    text = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in text) for i in range(len(header))]
    for row in text:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())

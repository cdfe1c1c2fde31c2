"""Running one command: an engine for its length, the engine's questions answered on the terminal,
and the noun's module (imported only when its noun is used) doing the work."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from vc3tui.cli.terminal import answer_on_terminal
from vc3tui.engine import Engine

MODULES = {"resource": "resources", "allocation": "allocations", "blueprint": "blueprints", "cluster": "clusters", "project": "projects"}


def run_command(args: argparse.Namespace) -> int:
    return asyncio.run(_dispatch(args))


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command:
        handler = importlib.import_module(f"vc3tui.cli.{MODULES[args.command]}").HANDLERS[args.action]
    else:
        from vc3tui.cli.headless import run_file as handler
    engine = Engine(interactive=not args.no_input)
    answering = asyncio.create_task(answer_on_terminal(engine.questions))
    try:
        return await handler(engine, args)
    finally:
        answering.cancel()
        for warning in engine.warnings:
            print(f"vc3tui: warning: {warning}", file=sys.stderr)
        await engine.close()

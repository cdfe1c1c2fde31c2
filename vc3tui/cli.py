"""Command line: the full-screen app by default, a headless runner with --run, scripting commands.

Every failure the user can cause ends as one line per problem on stderr and exit status 2;
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vc3tui import __version__
from vc3tui.commands import UserError, add_parsers, run_command
from vc3tui.engine.access import AccessError
from vc3tui.engine.engine import Engine, EngineError
from vc3tui.engine.keys import KeyFileError
from vc3tui.engine.projects import ProjectError
from vc3tui.engine.store import StoreError
from vc3tui.engine.tomlfile import FileErrors
from vc3tui.headless import run_headless

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vc3tui",
        description="Virtual clusters from the logins you already have. With no arguments, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"vc3tui {__version__}")
    parser.add_argument("--run", metavar="BLUEPRINT", type=Path, help="run a blueprint headless")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per line with --run)")
    parser.add_argument("--no-input", action="store_true", help="never prompt; fail where an answer is needed")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --run: show the builder's own output too")
    add_parsers(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command:
            code = run_command(args)
            if code == 0 and getattr(args, "run_now", False):
                return asyncio.run(run_headless(args.output, json_lines=args.json, interactive=not args.no_input, verbose=args.verbose))
            return code
        if args.run is not None:
            return asyncio.run(run_headless(args.run, json_lines=args.json, interactive=not args.no_input, verbose=args.verbose))
        return open_app()
    except FileErrors as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return USAGE_ERROR
    except (UserError, StoreError, EngineError, AccessError, KeyFileError, ProjectError) as exc:
        print(f"vc3tui: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def open_app() -> int:
    from vc3tui.app import VC3App

    engine = Engine()
    VC3App(engine).run()
    asyncio.run(engine.close())
    return 0

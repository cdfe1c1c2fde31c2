"""The command line: the full-screen app by default, a headless runner with --run, and scripting
commands, one module per noun.

Every failure the user can act on is a VC3Error and ends as one line per problem on stderr with
exit status 2; a traceback means a bug. Nothing is imported here until `main` knows what it
needs, so `--help` and the scripting commands start fast.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vc3tui.app import VC3App

USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    from vc3tui.cli.parser import build_parser
    from vc3tui.engine import VC3Error

    args = build_parser().parse_args(argv)
    try:
        if args.command or args.run is not None:
            from vc3tui.cli.commands import run_command
            from vc3tui.cli.printing import shown_only

            shown_only()
            return run_command(args)
        return open_app()
    except VC3Error as exc:
        # a file's problems begin with its name and line, as a compiler's do; others say who speaks
        for line in exc.problems if exc.located else [f"vc3tui: {p}" for p in exc.problems or [str(exc)]]:
            print(line, file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def open_app() -> int:
    import asyncio

    app = tui_app()
    app.run()
    asyncio.run(app.engine.close())
    return 0


def tui_app(*, watch_store: bool = True) -> VC3App:
    """The app and its engine, imported and made with the garbage collector paused: a cold start
    makes many objects that live as long as the process, and collecting while they come took a
    tenth of it (bench/tui.py). The app resumes collection, over a frozen heap, after its first frame."""
    gc.disable()
    from vc3tui.app import VC3App
    from vc3tui.engine import Engine

    return VC3App(Engine(), watch_store=watch_store, collector_paused=True)

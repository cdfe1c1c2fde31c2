"""The command line: the full-screen app by default, a headless runner with --run, and scripting
commands, one module per noun.

Every failure the user can act on is a VC3Error and ends as one line per problem on stderr with
exit status 2; a traceback means a bug. Nothing is imported here until `main` knows what it
needs, so `--help` and the scripting commands start fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

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

    from vc3tui.app import VC3App
    from vc3tui.engine import Engine

    engine = Engine()
    VC3App(engine).run()
    asyncio.run(engine.close())
    return 0

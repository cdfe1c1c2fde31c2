"""`vc3tui blueprint new`: a blueprint for any middleware and head placement from flags, checked
as a file is, written as TOML, or run headless at once with --run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vc3tui.engine import BlueprintValues, Engine, blueprint_toml


async def blueprint_new(engine: Engine, args: argparse.Namespace) -> int:
    blueprint = await engine.new_blueprint(BlueprintValues(
        name=args.name, middleware=args.middleware, description=args.description, allocations=args.allocation,
        workers=args.workers, cores=args.cores, memory_mb=args.memory_mb, walltime=args.walltime,
        require=args.require, pip=args.pip, environment=args.environment, expiration=args.expiration,
        head=args.head, head_batch_job=args.head_batch_job, head_address=args.head_address, listen=args.listen,
        jupyter=args.jupyter, worker_command=args.worker_command,
    ))  # fmt: skip
    if args.output:
        await engine.save_blueprint(blueprint, args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    elif not args.run_now:
        sys.stdout.write(blueprint_toml(blueprint))
    if not args.run_now:
        return 0
    from vc3tui.cli.headless import run

    return await run(engine, blueprint, args.output.parent if args.output else Path.cwd(), json_lines=args.json, verbose=args.verbose)


HANDLERS = {"new": blueprint_new}

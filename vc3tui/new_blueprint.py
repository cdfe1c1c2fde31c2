"""`vc3tui blueprint new`: a blueprint for any middleware and head placement from flags, checked
like a file, written as TOML (and, with --run, run headless at once)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vc3tui.engine.blueprint import blueprint_toml, check_blueprint, finding_lines
from vc3tui.engine.durations import parse_duration
from vc3tui.engine.engine import Engine, EngineError
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadPlacement, HeadSpec, MiddlewareKind, WorkerSpec


def add_blueprint_parsers(commands: argparse._SubParsersAction) -> None:
    blueprint = commands.add_parser("blueprint", help="cluster recipes").add_subparsers(dest="action", metavar="ACTION", required=True)
    new = blueprint.add_parser("new", help="write a blueprint from flags (and run it with --run)")
    new.add_argument("name")
    new.add_argument("--middleware", required=True, choices=[k.value for k in MiddlewareKind if k is not MiddlewareKind.JUPYTERLAB])
    new.add_argument("--allocation", action="append", default=[], metavar="NAME", help="where pilots run (repeatable; default: local)")
    new.add_argument("--workers", type=int, default=1, help="number of workers")
    new.add_argument("--cores", type=int, default=1, help="cores per worker")
    new.add_argument("--memory-mb", type=int, default=1000, help="memory per worker")
    new.add_argument("--walltime", default="1h", help="each pilot's walltime, e.g. 2h")
    new.add_argument("--description", default="", help="what the cluster is for")
    new.add_argument("--require", action="append", default=[], metavar="NAME[:MIN[:MAX]]", help="builder package for the environment (repeatable; see `builder/vc3-builder --list`)")
    new.add_argument("--pip", action="append", default=[], metavar="SPEC", help="pip requirement for the environment (repeatable)")
    new.add_argument("--environment", metavar="NAME", help="a named environment instead of --require/--pip")
    new.add_argument("--expiration", help="the cluster terminates itself after this long, e.g. 72h")
    new.add_argument("--head", default="local", metavar="local|ALLOCATION|external", help="where the head runs")
    new.add_argument("--head-batch-job", action="store_true", help="run the head as a batch job on its allocation")
    new.add_argument("--head-address", help="the running manager's address, for --head external")
    new.add_argument("--listen", help="IP address the head listens on and gives workers")
    new.add_argument("--jupyter", action="store_true", help="start JupyterLab beside the manager")
    new.add_argument("--worker-command", nargs=argparse.REMAINDER, help="for middleware none: the command each pilot runs (last option)")
    new.add_argument("--output", "-o", type=Path, help="write here (default: print)")
    new.add_argument("--run", dest="run_now", action="store_true", help="then run it headless (needs --output)")


def blueprint_from_flags(args: argparse.Namespace, walltime: int, expiration: int | None = None) -> Blueprint:
    """The CLI's flags, or the launch form's fields under the same names, as a blueprint."""
    if args.head == "local":
        head = HeadSpec(placement=HeadPlacement.LOCAL, batch_job=args.head_batch_job, listen=args.listen, jupyter=args.jupyter)
    elif args.head == "external":
        head = HeadSpec(placement=HeadPlacement.EXTERNAL, address=args.head_address, listen=args.listen)
    else:
        head = HeadSpec(placement=HeadPlacement.ALLOCATION, allocation=args.head, batch_job=args.head_batch_job, listen=args.listen, jupyter=args.jupyter)
    return Blueprint(
        name=args.name,
        middleware=MiddlewareKind(args.middleware),
        description=args.description,
        environment=Environment(name=args.environment, require=args.require, pip=args.pip),
        workers=WorkerSpec(
            count=args.workers, cores=args.cores, memory_mb=args.memory_mb, walltime=walltime, command=args.worker_command
        ),
        allocations=[AllocationUse(name=name) for name in args.allocation or ["local"]],
        head=head,
        expiration=expiration,
    )


async def blueprint_new(engine: Engine, args: argparse.Namespace) -> int:
    if args.run_now and not args.output:
        raise EngineError("--run needs --output FILE: the run reads the blueprint from that file")
    try:
        walltime = parse_duration(args.walltime)
        expiration = parse_duration(args.expiration) if args.expiration else None
    except ValueError as exc:
        raise EngineError(f"--walltime or --expiration: {exc}") from None
    blueprint = blueprint_from_flags(args, walltime, expiration)
    allocations = {a.name for a in await engine.allocations()}
    findings = check_blueprint(blueprint, allocations=allocations)
    if findings:
        raise EngineError("; ".join(finding_lines(findings)))
    text = blueprint_toml(blueprint)
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0

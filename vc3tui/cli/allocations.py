"""`vc3tui allocation ...`: the user's accounts on sites, their keys, and the staged validation."""

from __future__ import annotations

import argparse
import json

from vc3tui.cli.printing import print_pairs, print_table, when
from vc3tui.engine import Allocation, Engine, QuestionKind, StageResult, VC3Error, checked


async def allocation_create(engine: Engine, args: argparse.Namespace) -> int:
    passphrase = None
    if args.passphrase and args.no_input:
        raise VC3Error("--passphrase asks for the passphrase on the terminal, and --no-input forbids asking; drop one of them")
    if args.passphrase:
        # the names first: a typo should not cost two passphrase prompts
        checked(Allocation, {"name": args.name, "resource": args.resource, "login": args.login, "account": args.account}, "allocation")
        about = f"allocation {args.name}"
        passphrase = await engine.questions.ask(QuestionKind.PASSWORD, "Passphrase for the new key:", about=about)
        if passphrase != await engine.questions.ask(QuestionKind.PASSWORD, "Same passphrase again:", about=about):
            raise VC3Error("the passphrases differ; nothing was created")
    allocation, pair = await engine.access.create(
        args.name, args.resource, args.login, key_path=args.key, account=args.account, passphrase=passphrase or None
    )
    print(f"allocation {allocation.name} created; key {pair.private} ({pair.fingerprint})")
    print(f"install the key with `vc3tui allocation install-key {allocation.name}`, or paste this line on the site:")
    print(f"  {pair.paste_line}")
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
    print_pairs([
        ("name", allocation.name), ("resource", allocation.resource), ("login", allocation.login or "-"),
        ("account", allocation.account or "-"), ("key", allocation.key_path or "-"),
        ("certificate expires", when(allocation.certificate_expires)),
        ("state", allocation.state), ("reason", allocation.reason or "-"), ("working dir", allocation.workdir or "-"),
        ("landed on", allocation.landed_on or "-"),
    ])  # fmt: skip
    for stage in allocation.report:
        print(stage_line(stage))
    return 0


async def allocation_install_key(engine: Engine, args: argparse.Namespace) -> int:
    allocation = await engine.allocation(args.name)
    pair = engine.access.key(allocation)
    if args.print:
        print(pair.paste_line)
        return 0
    landed = await engine.access.install_key(allocation, accept_host_key=args.accept_host_key)
    print(f"key {pair.fingerprint} installed for {allocation.login or 'you'} on {landed}")
    return 0


async def allocation_validate(engine: Engine, args: argparse.Namespace) -> int:
    allocation = await engine.allocation(args.name)

    def show(stage: StageResult) -> None:
        print(json.dumps(stage.model_dump(mode="json")) if args.json else stage_line(stage), flush=True)

    allocation = await engine.access.validate(allocation, accept_host_key=args.accept_host_key, on_stage=show)
    if not args.json:
        print(f"allocation {allocation.name}: {allocation.state} ({allocation.reason})")
    return 0 if allocation.state == "ready" else 1


async def allocation_delete(engine: Engine, args: argparse.Namespace) -> int:
    await engine.delete_allocation(args.name)
    print(f"allocation {args.name} deleted")
    return 0


def stage_line(stage: StageResult) -> str:
    mark = "ok  " if stage.ok else "FAIL"
    fix = f"\n        fix: {stage.fix}" if stage.fix and not stage.ok else ""
    return f"  {mark} {stage.stage:<17} {stage.seconds:6.2f}s  {stage.detail}{fix}"


HANDLERS = {
    "create": allocation_create, "list": allocation_list, "show": allocation_show,
    "install-key": allocation_install_key, "validate": allocation_validate, "delete": allocation_delete,
}  # fmt: skip

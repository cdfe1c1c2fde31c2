"""The command line's grammar: every command, flag and choice, with no engine behind it, so
parsing (and `--help`, `--version`) starts in a few hundredths of a second."""

from __future__ import annotations

import argparse
from pathlib import Path

from vc3tui import __version__
from vc3tui.engine import BatchKind, MiddlewareKind


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


def add_parsers(commands: argparse._SubParsersAction) -> None:
    resource = commands.add_parser("resource", help="the resource catalog").add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = subcommand(resource, "list", "list catalog resources", json=True)
    listing.add_argument("--all", action="store_true", help="retired sites too")
    subcommand(resource, "show", "show one resource", named=True, json=True)
    add = subcommand(resource, "add", "add or replace a resource in your resources.toml", named=True)
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="login host")
    where.add_argument("--from-ssh-config", metavar="HOST", help="a Host entry of ~/.ssh/config (its HostName, Port, User, ProxyJump, IdentityFile)")
    add.add_argument("--port", type=int, help="SSH port (default: ~/.ssh/config's, else 22)")
    add.add_argument("--proxy-jump", metavar="[USER@]HOST[:PORT]", help="a bastion to log in through, as ssh -J (default: ~/.ssh/config's)")
    add.add_argument("--batch", required=True, choices=[k.value for k in BatchKind])
    add.add_argument("--partition")
    add.add_argument("--cores", type=int, help="cores per node")
    add.add_argument("--memory-mb", type=int, help="memory per node")
    add.add_argument("--disk-mb", type=int, help="local disk per node")
    add.add_argument("--scratch", help="scratch directory on the site, e.g. '$SCRATCH'")
    add.add_argument("--description", default="")
    add.add_argument("--batch-option", action="append", default=[], metavar="--NAME=VALUE", help="extra batch directive (repeatable)")
    subcommand(resource, "remove", "remove a resource from your resources.toml", named=True)

    allocation = commands.add_parser("allocation", help="your accounts on resources").add_subparsers(dest="action", metavar="ACTION", required=True)
    create = subcommand(allocation, "create", "create an allocation and its key pair", named=True)
    create.add_argument("--resource", required=True)
    create.add_argument("--login", help="your user name on the site")
    create.add_argument("--account", help="project/account string for the batch system")
    create.add_argument("--key", type=Path, help="use this existing private key (and KEY-cert.pub) instead of a new one")
    create.add_argument("--passphrase", action="store_true", help="protect the new key with a passphrase (asked, never on the command line)")
    subcommand(allocation, "list", "list allocations", json=True)
    subcommand(allocation, "show", "show an allocation and its validation report", named=True, json=True)
    install = subcommand(allocation, "install-key", "install the key on the site", named=True)
    install.add_argument("--print", action="store_true", help="only print the line to paste on the site")
    install.add_argument("--accept-host-key", metavar="SHA256:...")
    check = subcommand(allocation, "validate", "check the allocation stage by stage", named=True, json=True)
    check.add_argument("--accept-host-key", metavar="SHA256:...")
    subcommand(allocation, "delete", "forget an allocation (its key stays in the data dir)", named=True)

    add_blueprint_parsers(commands)

    cluster = commands.add_parser("cluster", help="clusters in the store").add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = subcommand(cluster, "list", "list clusters", json=True)
    listing.add_argument("--all", action="store_true", help="include terminated clusters")
    subcommand(cluster, "show", "show a cluster, its pilots and last failures", named=True, json=True)
    resize = subcommand(cluster, "resize", "set the number of workers (carried out by the process managing it)", named=True)
    resize.add_argument("count", type=int)
    resize.add_argument("--no-peaceful", action="store_true", help="cancel at once instead of draining")
    terminate = subcommand(cluster, "terminate", "terminate a cluster", named=True)
    terminate.add_argument("--no-peaceful", action="store_true")
    forget = cluster.add_parser("forget", help="remove a terminated cluster (or one the store cannot read) and its pilots and events from the store")
    forget.add_argument("name", help="its name or id")
    subcommand(cluster, "manage", "run a live cluster's factory here until the cluster ends (the app hands clusters over this way)", named=True)
    extend = subcommand(cluster, "extend", "push a cluster's expiration back", named=True)
    extend.add_argument("duration", help="from now, e.g. 24h")
    add_join_parser(cluster)
    add_project_parsers(commands)


def add_blueprint_parsers(commands: argparse._SubParsersAction) -> None:
    blueprint = commands.add_parser("blueprint", help="cluster recipes").add_subparsers(dest="action", metavar="ACTION", required=True)
    new = subcommand(blueprint, "new", "write a blueprint from flags (and run it with --run)", named=True)
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
    new.add_argument("--head", default="auto", metavar="auto|local|ALLOCATION|external", help="where the head runs (auto: from what the nodes reach)")
    new.add_argument("--head-batch-job", action="store_true", help="run the head as a batch job on its allocation")
    new.add_argument("--head-address", help="the running manager's address, for --head external")
    new.add_argument("--listen", help="IP address the head listens on and gives workers")
    new.add_argument("--jupyter", action="store_true", help="start JupyterLab beside the manager")
    new.add_argument("--worker-command", nargs=argparse.REMAINDER, help="for middleware none: the command each pilot runs (last option)")
    new.add_argument("--output", "-o", type=Path, help="write here (default: print)")
    new.add_argument("--run", dest="run_now", action="store_true", help="then run it headless, as --run BLUEPRINT would")


def add_project_parsers(commands: argparse._SubParsersAction) -> None:
    project = commands.add_parser("project", help="projects shared as files: members, allocations, blueprints").add_subparsers(dest="action", metavar="ACTION", required=True)
    project.add_parser("list", help="list projects")
    create = subcommand(project, "create", "start a project with you as its first member", named=True)
    create.add_argument("--description", default="")
    create.add_argument("--blueprint", action="append", default=[], type=Path, metavar="FILE", help="a blueprint to share (repeatable); its allocations are shared with it")
    create.add_argument("--as", dest="me", metavar="NAME", help="your member name (remembered; default: your login name)")
    subcommand(project, "show", "show a project", named=True, json=True)
    export = subcommand(project, "export", "write the project file to pass to the other members", named=True)
    export.add_argument("file", type=Path)
    take = project.add_parser("import", help="take in a project file: resources, blueprints, allocations needing your login")
    take.add_argument("file", type=Path)
    take.add_argument("--as", dest="me", metavar="NAME", help="your member name (remembered; default: your login name)")
    take.add_argument("--replace", action="store_true", help="let the file replace resources and allocations you already have (it says which)")
    member = subcommand(project, "add-member", "add (or update) a member", named=True)
    member.add_argument("member")
    member.add_argument("--email", default="")
    member.add_argument("--key-fingerprint", default="", metavar="SHA256:...", help="the fingerprint of the member's key (never the key)")
    unmember = subcommand(project, "remove-member", "remove a member who owns no allocation", named=True)
    unmember.add_argument("member")
    allocation = subcommand(project, "add-allocation", "share one of your allocations (resource, owner, account; no login, no key)", named=True)
    allocation.add_argument("allocation")
    allocation.add_argument("--owner", help="the member who owns it (default: you)")
    unallocation = subcommand(project, "remove-allocation", "stop sharing an allocation", named=True)
    unallocation.add_argument("allocation")
    blueprint = subcommand(project, "add-blueprint", "share a blueprint (and the allocations it uses)", named=True)
    blueprint.add_argument("file", type=Path)


def add_join_parser(cluster: argparse._SubParsersAction) -> None:
    join = subcommand(cluster, "join", "add pilots from your allocations to another member's shared cluster", named=True)
    join.add_argument("--allocation", action="append", default=[], metavar="NAME", help="draw pilots from this allocation (repeatable; default: the project's ready ones)")
    join.add_argument("--workers", type=int, help="how many workers you add (default: the blueprint's count)")
    join.add_argument("--ticket", type=Path, metavar="FILE", help="the join ticket the cluster's owner gave you (`vc3tui cluster invite`)")
    invite = subcommand(cluster, "invite", "write a join ticket (0600) that lets members' workers into your cluster", named=True)
    invite.add_argument("--to", type=Path, required=True, metavar="FILE")


def subcommand(actions: argparse._SubParsersAction, action: str, help: str, *, named: bool = False, json: bool = False) -> argparse.ArgumentParser:
    """An action taking the object's NAME (`named`) and printing JSON on `--json` (`json`), as most do."""
    parser = actions.add_parser(action, help=help)
    if named:
        parser.add_argument("name")
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON")
    return parser

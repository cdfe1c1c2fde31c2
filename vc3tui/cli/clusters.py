"""`vc3tui cluster ...`: clusters in the store, seen and steered from any process; whichever one
holds a cluster's lease carries the change out. Joining another member's cluster is here too."""

from __future__ import annotations

import argparse
import json
import os

from vc3tui.cli.printing import print_pairs, print_table, when
from vc3tui.engine import Cluster, ClusterState, Engine, VC3Error


async def live_cluster(engine: Engine, name: str) -> Cluster:
    cluster = await engine.live_cluster(name)
    if cluster is None:
        raise VC3Error(f"no live cluster named {name!r}; `vc3tui cluster list` shows them")
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
    failures: dict[str, list[str]] = {}
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
        ("expires", when(cluster.expires_at)),
    ])  # fmt: skip
    for allocation, lines in failures.items():
        print(f"last failures on {allocation}:")
        for line in lines[-5:]:
            print(f"  {line}")
    return 0


async def cluster_resize(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    count = await engine.resize(cluster.id, args.count, peaceful=not args.no_peaceful)
    print(f"cluster {cluster.name}: {count} workers requested ({'at once' if args.no_peaceful else 'peaceful'})")
    return 0


async def cluster_terminate(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    await engine.terminate(cluster.id, peaceful=not args.no_peaceful)
    print(f"cluster {cluster.name}: termination requested")
    return 0


async def cluster_forget(engine: Engine, args: argparse.Namespace) -> int:
    cluster_id = await engine.forget(args.name)
    print(f"cluster {args.name}: forgotten ({cluster_id}: its rows, pilots and events removed from the store)")
    return 0


async def cluster_manage(engine: Engine, args: argparse.Namespace) -> int:
    if await engine.live_cluster(args.name) is None and any(r.cluster.name == args.name for r in await engine.cluster_rows()):
        print(f"cluster {args.name}: already terminated; nothing to manage", flush=True)
        return 0
    cluster = await live_cluster(engine, args.name)
    if not await engine.manage(cluster.id):
        raise VC3Error(f"cluster {cluster.name} is managed by another live process; resize or terminate it from anywhere, it follows the store")
    print(f"cluster {cluster.name}: managed by this process (pid {os.getpid()}) until it ends", flush=True)
    row = await engine.wait_for(cluster.id, lambda r: r.cluster.state is ClusterState.TERMINATED)
    print(f"cluster {cluster.name}: {row.cluster.state}: {row.cluster.reason}", flush=True)
    return 0


async def cluster_extend(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await live_cluster(engine, args.name)
    expires_at = await engine.extend(cluster.id, args.duration)
    print(f"cluster {cluster.name}: expires {when(expires_at)}")
    return 0


async def cluster_join(engine: Engine, args: argparse.Namespace) -> int:
    cluster = await engine.join(args.name, allocations=args.allocation or None, workers=args.workers, ticket=args.ticket)
    await engine.release(cluster.id)
    log = engine.hand_off(cluster.name)
    print(f"cluster {cluster.name}: joining {cluster.blueprint.head.address} with {cluster.requested} workers from "
          f"{', '.join(u.name for u in cluster.blueprint.allocations)}; managed in the background (log {log})")  # fmt: skip
    return 0


async def cluster_invite(engine: Engine, args: argparse.Namespace) -> int:
    secrets = await engine.invite(args.name, args.to)
    print(f"join ticket for {args.name} written to {args.to} (0600; holds {', '.join(secrets) or 'no secret'}): "
          "pass it only to members, as you would a password")  # fmt: skip
    return 0


HANDLERS = {
    "list": cluster_list, "show": cluster_show, "resize": cluster_resize, "terminate": cluster_terminate,
    "manage": cluster_manage, "extend": cluster_extend, "join": cluster_join, "invite": cluster_invite, "forget": cluster_forget,
}  # fmt: skip

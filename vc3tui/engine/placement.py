"""Where a cluster's head goes, decided at launch from what each allocation's compute nodes reach
(their validation's reachability stage, `Allocation.reach`).

`auto` (the default) puts the head on this machine when every site's nodes reach it, directly or,
for a middleware whose workers only dial out (Work Queue; HTCondor, whose head dials back
through CCB), through a relay on their login node;
otherwise on the site whose nodes reach nothing else: its login node, or a batch job there when
the nodes cannot reach the login node either. A head whose workers cannot all reach it is refused
before anything starts, with one line saying why and what works. The cluster keeps the placement
chosen, so a restart does not move its head.
"""

from __future__ import annotations

from collections.abc import Mapping

from vc3tui.engine.catalog import LOCAL
from vc3tui.engine.errors import EngineError
from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.kinds import HeadPlacement, MiddlewareKind
from vc3tui.engine.models import Allocation, Blueprint, HeadSpec

RELAYED_PORT = {MiddlewareKind.WORKQUEUE: "manager", MiddlewareKind.HTCONDOR: "collector"}
"""The port a middleware's workers dial, for those whose workers only dial out: they can reach a
head on this machine through a relay on their login node."""


def relay_port_name(allocation: str) -> str:
    """The head's port entry for the relay on this allocation's login node, kept so a relay
    rebuilt after a reconnect listens at the same address."""
    return f"relay-{allocation}"


def place_head(blueprint: Blueprint, allocations: Mapping[str, Allocation], middleware: Middleware) -> tuple[Blueprint, str]:
    """The blueprint with its head placed, and why it is there; EngineError when no head can serve
    every allocation's workers. `allocations`: the blueprint's, and the head's own when it names one."""
    spec = blueprint.head
    if not middleware.has_manager or spec.placement is HeadPlacement.EXTERNAL:
        return _placed(blueprint, HeadSpec(placement=HeadPlacement.LOCAL) if spec.placement is HeadPlacement.AUTO else spec), ""
    kind = middleware.kind
    reach = {use.name: allocations[use.name].reach for use in blueprint.allocations if use.name != LOCAL and use.name in allocations}
    stuck = [name for name, found in reach.items() if found is not None and not found.this_machine]
    relayed = [name for name in stuck if kind in RELAYED_PORT and reach[name].through_login]
    alone = [name for name in stuck if name not in relayed]
    if spec.placement is HeadPlacement.ALLOCATION:
        home = allocations.get(spec.allocation)
        others = [name for name in alone if home is None or allocations[name].resource != home.resource]
        if others:
            raise EngineError(_no_one_head(kind, [spec.allocation, *others], others[0]))
        return blueprint, ""
    if not alone:
        unknown = [name for name, found in reach.items() if found is None]
        how = "".join(
            f"; {', '.join(names)} {said}" for names, said in ((relayed, "through their login node"), (unknown, "assumed (not validated)")) if names
        )
        why = "" if spec.placement is HeadPlacement.LOCAL else f"head on this machine (auto: every site's nodes reach it{how})"
        return _placed(blueprint, spec.model_copy(update={"placement": HeadPlacement.LOCAL})), why
    if spec.placement is HeadPlacement.LOCAL:
        ways = f"and {kind}'s workers only dial out, but not even that login node is reachable" if kind in RELAYED_PORT else f"and {kind} also dials its workers"
        raise EngineError(
            f"{kind}'s head on this machine cannot serve {', '.join(alone)}: its nodes reach this machine only through their login node or not at all, "
            f"{ways}; put the head there ([head] placement = \"allocation\", allocation = \"{alone[0]}\") or leave placement to \"auto\"; nothing was started"
        )
    home = alone[0]
    foreign = [name for name in reach if allocations[name].resource != allocations[home].resource]
    if foreign:
        raise EngineError(_no_one_head(kind, [home, *foreign], home))
    batch_job = not reach[home].login_node
    on = f"as a batch job on {home}" if batch_job else f"on {home}'s login node"
    nodes = "reach neither this machine nor their login node" if batch_job else "cannot reach this machine"
    placed = spec.model_copy(update={"placement": HeadPlacement.ALLOCATION, "allocation": home, "batch_job": batch_job})
    return _placed(blueprint, placed), f"head {on} (auto: its nodes {nodes})"


def _placed(blueprint: Blueprint, spec: HeadSpec) -> Blueprint:
    return blueprint if spec is blueprint.head else blueprint.model_copy(update={"head": spec})


def _no_one_head(kind: MiddlewareKind, names: list[str], isolated: str) -> str:
    if kind in RELAYED_PORT:
        why, works = "", "validate the allocation again once its nodes reach their login node, or run one cluster per site"
    else:
        why = f", and {kind}'s head dials its workers"
        works = "use workqueue or htcondor (their workers dial out, through a relay on their login node), or one cluster per site"
    return f"no one {kind} head can serve {' and '.join(names)}: {isolated}'s nodes reach nothing outside their site{why}; {works}; nothing was started"

"""Heads on this machine for sites whose compute nodes cannot reach it: workers there are told the
address of a relay on their login node, over the SSH connection vc3tui already holds, instead of
this machine's own (which their validation found unreachable: `Allocation.reach`).

Only a middleware whose workers dial the manager, and nothing dials back, can cross such a one-way
path: Work Queue's workers connect to the manager's port; HTCondor's glideins dial the head's one
shared port, and the head reaches them back through the connection each keeps open (CCB). The
relay's port is kept with the head (`relay-ALLOCATION`), so a relay rebuilt after a reconnect
listens at the same address and the workers' retries find it again.
"""

from __future__ import annotations

import asyncio

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.models import Cluster, Head
from vc3tui.engine.placement import RELAYED_PORT, relay_port_name
from vc3tui.engine.services import Changes
from vc3tui.engine.site import Site
from vc3tui.engine.sites import Sites
from vc3tui.engine.tracking import site_answer


class ConnectBacks:
    def __init__(self, sites: Sites, middleware: Middleware, changes: Changes) -> None:
        self.sites = sites
        self.middleware = middleware
        self.changes = changes

    def needed(self, cluster: Cluster, site: Site) -> bool:
        """This site's nodes reach a head here only through their login node."""
        head = cluster.head
        if head is None or head.external or head.allocation is not None or self.sites.is_local(site):
            return False
        reach = self.sites.reach(site.allocation)
        return reach is not None and not reach.this_machine and reach.through_login

    async def keep(self, cluster: Cluster) -> None:
        """Each cycle: a relay lost with its connection (a link cut, a laptop asleep) is rebuilt at
        its port, so the workers' retries find the manager again before they give up; every site
        at once, none holding up the cycle (site_answer)."""
        # a site that is away: its status query says so, and its relay comes back with it
        await asyncio.gather(*(site_answer(site, self.head_for(cluster, site)) for site in self._relayed(cluster)), return_exceptions=True)

    async def head_for(self, cluster: Cluster, site: Site) -> Head:
        """The head as this site's workers reach it: itself, or through the relay on their login node."""
        head = cluster.head
        port_name = RELAYED_PORT.get(self.middleware.kind)
        if port_name is None or not self.needed(cluster, site):
            return head
        key = relay_port_name(site.allocation)
        relay = await site.executor.connect_back(head.ports[port_name], relay_port=head.ports.get(key, 0))
        if head.ports.get(key) != relay.port:
            head.ports[key] = relay.port
            self.changes.writes.clusters.append(cluster)
            self.changes.event(cluster, "head", f"workers on {site.allocation} reach the head through their login node ({relay.address})")
        return head.model_copy(update={"address": relay.address, "ports": {**head.ports, port_name: relay.port}})

    def release(self, cluster: Cluster) -> None:
        """The cluster's relays end with its head (the connection, kept for the allocation, stays)."""
        port_name = RELAYED_PORT.get(self.middleware.kind)
        if port_name is None or port_name not in (cluster.head.ports if cluster.head else {}):
            return
        for site in self._relayed(cluster):
            site.executor.end_connect_back(cluster.head.ports[port_name])

    def _relayed(self, cluster: Cluster) -> list[Site]:
        """The cluster's sites whose workers reach its head through a relay."""
        ports = cluster.head.ports if cluster.head else {}
        return [site for site in self.sites.pilot_sites(cluster) if relay_port_name(site.allocation) in ports]

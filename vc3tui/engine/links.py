"""What a person opens on a running head (its dashboard, the port a client connects to, JupyterLab),
as this machine reaches it: a head on a site through a local forward on the connection vc3tui
already holds, so every link is a 127.0.0.1 URL that works while this process runs, whatever the
site's firewall lets through."""

from __future__ import annotations

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.middleware import jupyter
from vc3tui.engine.models import Head
from vc3tui.engine.site import Site


async def head_links(site: Site, head: Head, middleware: Middleware) -> list[tuple[str, str]]:
    """(name, URL) pairs; JupyterLab's carries its token, so it is for the user's eyes only (never in events)."""
    links = []
    for link in middleware.links(head):
        host, port = await site.executor.forward(link.host, link.port)
        links.append((link.name, f"{link.scheme}://{host}:{port}{link.path}" if link.scheme else f"{host}:{port}"))
    url = await jupyter.url(site.executor, head, f"{site.workdir}/secrets")
    return links + [("jupyter", url)] * bool(url)

"""What a person opens on a head: each middleware's links, as this machine reaches them (a head
here: as they are; a head on a site: through the kept connection's forwards, as 127.0.0.1)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.interfaces import HeadLink
from vc3tui.engine.links import head_links
from vc3tui.engine.middleware.registry import middleware_for
from vc3tui.engine.models import Head, MiddlewareKind


class Forwarding(LocalExecutor):
    """A site's executor as far as links go: every port forwarded to a local one."""

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", 40000 + port % 1000


def links(kind: MiddlewareKind, head: Head, executor=None) -> list[tuple[str, str]]:
    site = SimpleNamespace(executor=executor or LocalExecutor(), workdir="/nonexistent")
    return asyncio.run(head_links(site, head, middleware_for(kind)))


def test_an_address_splits_into_its_scheme_host_and_port() -> None:
    assert HeadLink.of_address("scheduler", "tls://node7.example.org:8786") == HeadLink("scheduler", "tls", "node7.example.org", 8786)
    assert HeadLink.of_address("collector", "cm.example.org:9618") == HeadLink("collector", "", "cm.example.org", 9618)


def test_a_head_here_is_linked_as_it_is() -> None:
    head = Head(address="tls://laptop:8786", ports={"http": 8787})
    assert links(MiddlewareKind.DASK, head) == [("scheduler", "tls://laptop:8786"), ("dashboard", "http://127.0.0.1:8787/status")]


def test_a_head_on_a_site_is_linked_through_its_forwards() -> None:
    spark = Head(allocation="a", address="spark://login1:7077", ports={"http": 8080})
    assert links(MiddlewareKind.SPARK, spark, Forwarding()) == [("master", "spark://127.0.0.1:40077"), ("dashboard", "http://127.0.0.1:40080")]
    wq = Head(allocation="a", address="login1:9100", ports={"http": 9100, "manager": 9200})
    assert links(MiddlewareKind.WORKQUEUE, wq, Forwarding()) == [("status", "http://127.0.0.1:40100/"), ("manager", "127.0.0.1:40200")]


def test_middleware_without_a_manager_has_nothing_to_open() -> None:
    assert links(MiddlewareKind.NONE, Head(address="")) == []

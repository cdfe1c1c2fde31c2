"""`head = "auto"`: where the head goes, from what each allocation's nodes reach; and the one-line
refusals when no head can serve every site's workers."""

from __future__ import annotations

import pytest

from vc3tui.engine.errors import EngineError
from vc3tui.engine.kinds import HeadPlacement, MiddlewareKind
from vc3tui.engine.middleware.registry import middleware_for
from vc3tui.engine.models import Allocation, AllocationUse, Blueprint, HeadSpec, Reach
from vc3tui.engine.placement import place_head

OPEN = Reach(this_machine=True, through_login=True, login_node=True)
FIREWALLED = Reach(this_machine=False, through_login=True, login_node=True)
SEALED = Reach(this_machine=False, through_login=False, login_node=False)


def allocations(**reach: Reach | None) -> dict[str, Allocation]:
    """Allocations a1, a2 on resource `a`, b1 on `b`: each named by its first letter's site."""
    return {name: Allocation(name=name, resource=name[0], reach=found) for name, found in reach.items()}


def blueprint(middleware: MiddlewareKind, names: list[str], head: HeadSpec | None = None) -> Blueprint:
    return Blueprint(name="c", middleware=middleware, allocations=[AllocationUse(name=n) for n in names], head=head or HeadSpec())


def placed(middleware: MiddlewareKind, head: HeadSpec | None = None, **reach: Reach | None) -> tuple[HeadSpec, str]:
    found, why = place_head(blueprint(middleware, list(reach), head), allocations(**reach), middleware_for(middleware))
    return found.head, why


def test_auto_is_the_default_and_sites_that_reach_this_machine_keep_the_head_here() -> None:
    assert HeadSpec().placement is HeadPlacement.AUTO
    head, why = placed(MiddlewareKind.DASK, a1=OPEN, b1=None)
    assert head.placement is HeadPlacement.LOCAL
    assert why == "head on this machine (auto: every site's nodes reach it; b1 assumed (not validated))"


def test_work_queue_stays_here_through_the_relays_of_both_sites() -> None:
    head, why = placed(MiddlewareKind.WORKQUEUE, a1=FIREWALLED, b1=FIREWALLED)
    assert head.placement is HeadPlacement.LOCAL
    assert why == "head on this machine (auto: every site's nodes reach it; a1, b1 through their login node)"


def test_dask_goes_to_the_login_node_of_the_site_that_cannot_reach_here() -> None:
    head, why = placed(MiddlewareKind.DASK, a1=FIREWALLED, a2=OPEN)
    assert (head.placement, head.allocation, head.batch_job) == (HeadPlacement.ALLOCATION, "a1", False)
    assert why == "head on a1's login node (auto: its nodes cannot reach this machine)"


def test_nodes_that_reach_not_even_their_login_node_get_a_batch_job_head() -> None:
    head, why = placed(MiddlewareKind.SPARK, a1=SEALED)
    assert (head.placement, head.allocation, head.batch_job) == (HeadPlacement.ALLOCATION, "a1", True)
    assert why == "head as a batch job on a1 (auto: its nodes reach neither this machine nor their login node)"


def test_dask_over_two_sites_that_cannot_reach_each_other_is_refused_saying_what_works() -> None:
    with pytest.raises(EngineError) as refused:
        placed(MiddlewareKind.DASK, a1=FIREWALLED, b1=FIREWALLED)
    assert str(refused.value) == (
        "no one dask head can serve a1 and b1: a1's nodes reach nothing outside their site, and dask's head dials its workers; "
        "use workqueue or htcondor (their workers dial out, through a relay on their login node), or one cluster per site; nothing was started"
    )


def test_an_explicit_head_here_is_refused_for_nodes_that_only_reach_their_login_node() -> None:
    with pytest.raises(EngineError, match=r"^spark's head on this machine cannot serve a1: .* leave placement to \"auto\"; nothing was started$"):
        placed(MiddlewareKind.SPARK, HeadSpec(placement=HeadPlacement.LOCAL), a1=FIREWALLED)
    head, why = placed(MiddlewareKind.WORKQUEUE, HeadSpec(placement=HeadPlacement.LOCAL), a1=FIREWALLED)
    assert head.placement is HeadPlacement.LOCAL and why == ""


def test_an_explicit_head_on_one_site_is_refused_for_a_sealed_other_site() -> None:
    with pytest.raises(EngineError, match="^no one dask head can serve a1 and b1: b1's nodes"):
        placed(MiddlewareKind.DASK, HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="a1"), a1=FIREWALLED, b1=FIREWALLED)


def test_no_manager_and_external_heads_are_left_alone() -> None:
    assert placed(MiddlewareKind.NONE, a1=SEALED)[0].placement is HeadPlacement.LOCAL
    external = HeadSpec(placement=HeadPlacement.EXTERNAL, address="tcp://x:8786")
    assert placed(MiddlewareKind.DASK, external, a1=SEALED) == (external, "")


def test_a_head_on_an_allocation_of_its_own_is_refused_for_a_sealed_pilot_site() -> None:
    head = HeadSpec(placement=HeadPlacement.ALLOCATION, allocation="b1")
    uses = {**allocations(a1=FIREWALLED), "b1": Allocation(name="b1", resource="b", reach=OPEN)}
    with pytest.raises(EngineError, match="^no one dask head can serve b1 and a1: a1's nodes"):
        place_head(blueprint(MiddlewareKind.DASK, ["a1"], head), uses, middleware_for(MiddlewareKind.DASK))

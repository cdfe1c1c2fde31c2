"""What a middleware implies for the environment, and the builder's plan as the engine reads it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.models import AllocationUse, Blueprint, Environment, HeadSpec, MiddlewareKind
from vc3tui.engine.software import DASK_PIP, JUPYTERLAB_PIP, PYSPARK_PIP, Piece, SoftwareMissing, check_software, parse_plan, with_middleware_software

from tests import ROOT

BUILDER = ROOT / "builder" / "vc3_builder.py"


def blueprint(middleware: MiddlewareKind, **environment: object) -> Blueprint:
    return Blueprint(name="b", middleware=middleware, allocations=[AllocationUse(name="local")], environment=Environment(**environment))


@pytest.mark.parametrize(
    "middleware,environment,pip,require",
    [
        (MiddlewareKind.DASK, {}, [DASK_PIP], []),
        (MiddlewareKind.DASK, {"pip": ["distributed>=2024", "numpy"]}, ["distributed>=2024", "numpy"], []),
        (MiddlewareKind.DASK, {"require": ["dask"]}, [], ["dask"]),
        (MiddlewareKind.SPARK, {}, [PYSPARK_PIP], ["java:17"]),
        (MiddlewareKind.SPARK, {"require": ["pyspark"]}, [], ["pyspark"]),
        (MiddlewareKind.SPARK, {"pip": ["PySpark==4.3.0"]}, ["PySpark==4.3.0"], ["java:17"]),
        (MiddlewareKind.WORKQUEUE, {}, [], ["cctools"]),
        (MiddlewareKind.WORKQUEUE, {"pip": ["ndcctools"]}, ["ndcctools"], []),
        (MiddlewareKind.HTCONDOR, {}, [], ["htcondor"]),
        (MiddlewareKind.NONE, {}, [], []),
    ],
)
def test_a_middleware_brings_what_the_environment_does_not_name(middleware, environment, pip, require) -> None:
    env = with_middleware_software(blueprint(middleware, **environment)).environment
    assert (env.pip, env.require) == (pip, require)


def test_a_jupyter_head_brings_jupyterlab_beside_the_middleware() -> None:
    bp = blueprint(MiddlewareKind.DASK).model_copy(update={"head": HeadSpec(jupyter=True)})
    assert with_middleware_software(bp).environment.pip == [DASK_PIP, JUPYTERLAB_PIP]


def test_an_environment_in_a_container_is_left_to_the_builder_inside_it() -> None:
    bp = blueprint(MiddlewareKind.DASK, os="centos:7")
    assert with_middleware_software(bp) is bp


def test_the_plan_names_each_pieces_source() -> None:
    pieces = parse_plan("python\t3.11.7\tsystem\t/usr/bin/python3\nnumpy scipy\t1\tpip\tto build\nbad line\n")
    assert pieces == [Piece("python", "3.11.7", "system", "/usr/bin/python3"), Piece("numpy scipy", "1", "pip", "to build")]
    assert [str(p) for p in pieces] == ["python 3.11.7 (the system's, /usr/bin/python3)", "numpy scipy (pip, to build)"]


async def test_the_builders_dry_run_is_the_plan_or_what_is_missing(tmp_path: Path) -> None:
    builder = [sys.executable, str(BUILDER), "--install", str(tmp_path / "root")]
    plan = await check_software(LocalExecutor(), [*builder, "--pip", "nothing-to-see"])
    assert [(p.name, p.origin, p.state) for p in plan] == [("python", "system", sys.executable), ("nothing-to-see", "pip", "to build")]
    with pytest.raises(SoftwareMissing) as missing:
        await check_software(LocalExecutor(), [*builder, "--require", "no-such-package"])
    assert str(missing.value) == "could not add no-such-package: no recipe (see --list)"
    assert not list((tmp_path / "root").rglob(".vc3-done")), "a dry run builds nothing"

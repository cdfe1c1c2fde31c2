"""Every number a file, a flag, a form or a project gives has a finite, stated range, checked
before it reaches the store or the factory; infinity and NaN are refused."""

from __future__ import annotations

import inspect
import math
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from vc3tui.engine import models
from vc3tui.engine.durations import MAX_DURATION, Duration
from vc3tui.engine.fields import MAX_WORKERS, InvalidValue, WorkerCount, checked
from vc3tui.engine.models import AllocationUse, Cluster

from tests.factories import blueprint

MODELS = [m for _, m in inspect.getmembers(models, inspect.isclass) if issubclass(m, BaseModel) and m.__module__ == models.__name__]


def constraints(metadata: tuple[Any, ...]) -> Iterator[Any]:
    for item in metadata:
        if isinstance(item, FieldInfo):
            yield from constraints(tuple(item.metadata))
        else:
            yield item


def unbounded(annotation: Any, metadata: tuple[Any, ...] = ()) -> Iterator[str]:
    """What is wrong with each number inside `annotation` (through Optional, lists and dicts)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        yield from unbounded(base, (*metadata, *extra))
    elif origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from unbounded(arg, metadata)
    elif origin in (list, dict, tuple, set, frozenset):
        for arg in get_args(annotation):
            yield from unbounded(arg)
    elif annotation in (int, float):
        found = list(constraints(metadata))
        if not any(getattr(c, "le", None) is not None or getattr(c, "lt", None) is not None for c in found):
            yield f"{annotation.__name__} without an upper bound"
        if annotation is float and not any(getattr(c, "allow_inf_nan", True) is False for c in found):
            yield "float that takes inf or nan"


def test_every_number_of_every_model_has_a_finite_range() -> None:
    assert len(MODELS) > 15
    problems = []
    for model in MODELS:
        for name, field in model.model_fields.items():
            for problem in unbounded(field.annotation, tuple(field.metadata)):
                problems.append(f"{model.__name__}.{name}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_walk_catches_an_unbounded_number() -> None:
    assert list(unbounded(int | None)) == ["int without an upper bound"]
    assert list(unbounded(dict[str, float])) == ["float without an upper bound", "float that takes inf or nan"]


@pytest.mark.parametrize("weight", [math.inf, -math.inf, math.nan, "inf", "nan", 10**400])
def test_infinite_weights_are_refused(weight: object) -> None:
    with pytest.raises(ValidationError, match="weight"):
        AllocationUse(name="local", weight=weight)


@given(st.integers(min_value=MAX_WORKERS + 1, max_value=10**40) | st.integers(max_value=-1, min_value=-(10**40)))
def test_worker_counts_outside_the_range_are_one_line(count: int) -> None:
    with pytest.raises(InvalidValue, match=r"^count: must be at (most 100000|least 0)") as caught:
        checked(WorkerCount, count, "count")
    assert "\n" not in str(caught.value)


@given(st.integers(min_value=MAX_DURATION + 1, max_value=10**40) | st.sampled_from(["367d", "9" * 40 + "d", "53w", "9999999:00:00"]))
def test_durations_longer_than_a_year_are_refused(duration: object) -> None:
    with pytest.raises(InvalidValue, match="duration: "):
        checked(Duration, duration, "duration")


def test_a_cluster_of_the_largest_allowed_size_is_accepted() -> None:
    cluster = Cluster(id="abcd1234", name="big", blueprint=blueprint(count=MAX_WORKERS), requested=MAX_WORKERS)
    assert Cluster.model_validate_json(cluster.model_dump_json()).requested == MAX_WORKERS

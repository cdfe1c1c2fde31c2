"""Middleware plugins: the manager on the head, the worker in each pilot, and what they report."""

from __future__ import annotations

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.middleware.dask import DaskMiddleware
from vc3tui.engine.middleware.htcondor import HTCondorMiddleware
from vc3tui.engine.middleware.plain import PlainCommand
from vc3tui.engine.middleware.spark import SparkMiddleware
from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware
from vc3tui.engine.models import MiddlewareKind


def middleware_for(kind: MiddlewareKind) -> Middleware:
    """The plugin for a blueprint's middleware; a clear error for one not built yet."""
    if kind is MiddlewareKind.DASK:
        return DaskMiddleware()
    if kind is MiddlewareKind.WORKQUEUE:
        return WorkQueueMiddleware()
    if kind is MiddlewareKind.HTCONDOR:
        return HTCondorMiddleware()
    if kind is MiddlewareKind.SPARK:
        return SparkMiddleware()
    if kind is MiddlewareKind.NONE:
        return PlainCommand()
    raise NotImplementedError(f"middleware {kind} is not supported yet; use \"dask\", \"workqueue\", \"spark\", \"htcondor\" or \"none\"")

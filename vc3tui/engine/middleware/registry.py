"""The middleware plugin for a blueprint's kind, each imported when first asked for."""

from __future__ import annotations

from vc3tui.engine.interfaces import Middleware
from vc3tui.engine.models import MiddlewareKind


def middleware_for(kind: MiddlewareKind) -> Middleware:
    """The plugin for a blueprint's middleware; a clear error for one not built yet. Each is
    imported when first asked for (their HTTP client is not needed to show a view)."""
    if kind is MiddlewareKind.DASK:
        from vc3tui.engine.middleware.dask import DaskMiddleware

        return DaskMiddleware()
    if kind is MiddlewareKind.WORKQUEUE:
        from vc3tui.engine.middleware.workqueue import WorkQueueMiddleware

        return WorkQueueMiddleware()
    if kind is MiddlewareKind.HTCONDOR:
        from vc3tui.engine.middleware.htcondor import HTCondorMiddleware

        return HTCondorMiddleware()
    if kind is MiddlewareKind.SPARK:
        from vc3tui.engine.middleware.spark import SparkMiddleware

        return SparkMiddleware()
    if kind is MiddlewareKind.NONE:
        from vc3tui.engine.middleware.plain import PlainCommand

        return PlainCommand()
    raise NotImplementedError(f"middleware {kind} is not supported yet; use \"dask\", \"workqueue\", \"spark\", \"htcondor\" or \"none\"")

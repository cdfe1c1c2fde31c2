"""HTTP to a head's own services (Work Queue's catalog, Spark's master, Dask's scheduler, Jupyter).

httpx loads the CA bundle into a new TLS context for every client (20-30 ms of CPU each), and a
factory makes a client on every cycle, so all of them share one context, made once per process."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def client(timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())

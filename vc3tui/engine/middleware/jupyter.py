"""A JupyterLab server beside the head's manager (`[head] jupyter = true`), on the head's loopback.

It runs in the head's process group (one kill stops both) with a token made for the cluster,
kept 0600 in the head's secrets dir and handed over in the environment, never on a command line.
Its port is read from the runtime file Jupyter writes itself; readiness is its own /api/status.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from collections.abc import Sequence

import httpx

from vc3tui.engine.interfaces import Executor
from vc3tui.engine.models import Head
from vc3tui.engine.redaction import Redactor
from vc3tui.engine.middleware import http

TOKEN_FILE = "jupyter-token"
RUNTIME_DIR = "jupyter-runtime"


def new_token() -> bytes:
    return secrets.token_hex(24).encode()


def with_jupyter(argv: Sequence[str], secrets_dir: str, root_dir: str) -> list[str]:
    """The manager's argv, with a JupyterLab server started beside it in the same process group."""
    root_flag = " --allow-root" if os.geteuid() == 0 else ""
    runtime = f"{secrets_dir}/{RUNTIME_DIR}"
    script = (
        f"mkdir -p -m 700 {shlex.quote(runtime)}; "
        f"JUPYTER_TOKEN=$(cat {shlex.quote(secrets_dir + '/' + TOKEN_FILE)}) JUPYTER_RUNTIME_DIR={shlex.quote(runtime)} "
        f"jupyter lab --no-browser{root_flag} --ip=127.0.0.1 --ServerApp.port=0 --ServerApp.root_dir={shlex.quote(root_dir)} "
        f"> {shlex.quote(secrets_dir + '/jupyter.log')} 2>&1 & exec \"$@\""
    )
    return ["sh", "-c", script, "sh", *argv]


async def jupyter_port(executor: Executor, secrets_dir: str) -> int | None:
    """The port once the server answers with its token; None while it is starting."""
    found = await executor.run_script(f"cat {shlex.quote(secrets_dir)}/{RUNTIME_DIR}/jpserver-*.json 2>/dev/null | head -c 100000\n")
    try:
        port = int(json.loads(found.stdout)["port"])
    except (ValueError, KeyError, TypeError):
        return None
    token = (await executor.get(f"{secrets_dir}/{TOKEN_FILE}")).decode().strip()
    host, local_port = await executor.forward("127.0.0.1", port)
    try:
        async with http.client(5) as client:
            reply = await client.get(f"http://{host}:{local_port}/api/status", headers={"Authorization": f"token {token}"})
    except httpx.HTTPError:
        return None
    return port if reply.status_code == 200 else None


async def start(executor: Executor, secrets_dir: str, root_dir: str, argv: Sequence[str], redactor: Redactor) -> list[str]:
    """Write a token made for the cluster (0600, redacted from here on) and return the manager's
    argv with JupyterLab beside it."""
    token = new_token()
    redactor.add(token)
    await executor.put(token, f"{secrets_dir}/{TOKEN_FILE}", mode=0o600)
    return with_jupyter(argv, secrets_dir, root_dir)


async def discover(executor: Executor, head: Head, secrets_dir: str) -> str | None:
    """Once the server answers: its port kept on the head, and the line that says where it is
    (its token stays in the secrets dir); None while it is starting."""
    port = await jupyter_port(executor, secrets_dir)
    if port is None:
        return None
    head.ports["jupyter"] = port
    on = f" on {head.hostname} (reach it with `ssh -L`, or while vc3tui runs, through its forward)" if head.allocation else ""
    return f"JupyterLab at http://127.0.0.1:{port}/lab{on} (token in {secrets_dir}/{TOKEN_FILE})"


async def url(executor: Executor, head: Head, secrets_dir: str) -> str | None:
    """The URL with its token, for the user's eyes only (never stored in events); for a head on a
    site, through a port this process forwards while it runs."""
    if "jupyter" not in head.ports:
        return None
    token = (await executor.get(f"{secrets_dir}/{TOKEN_FILE}")).decode().strip()
    host, port = await executor.forward("127.0.0.1", head.ports["jupyter"])
    return f"http://{host}:{port}/lab?token={token}"

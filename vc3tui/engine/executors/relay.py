"""Connect-back for sites whose compute nodes cannot reach this machine: a remote port forward on
the SSH connection already held, plus a small relay on the login node that listens where the
nodes can reach it and passes each connection into the forward.

sshd binds a remote forward to the login node's loopback whatever address is asked for (most
sites leave `GatewayPorts` off, and sshd does not say so): hence the relay, a stdlib Python
program started over the same connection, which ends when that connection does (its stdin closes).
It copies bytes and nothing else: the middleware's own authentication and TLS stay end to end.
"""

from __future__ import annotations

from dataclasses import dataclass

RELAY = """\
import os, socket, sys, threading
listen_host, listen_port, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((listen_host, listen_port))
server.listen(128)
print(server.getsockname()[1], flush=True)
def pipe(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve():
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target))
        except OSError:
            client.close()
            continue
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
os._exit(0)
"""
"""argv: LISTEN_HOST LISTEN_PORT (0: any) TARGET_PORT (on the login node's loopback). Prints the
port it listens on; exits when its stdin closes, that is, with the SSH connection."""


@dataclass(frozen=True)
class ConnectBack:
    """Where workers on a site reach a head on this machine: the relay on the login node."""

    host: str
    """The login node as its compute nodes name it (its own `uname -n`)."""
    port: int
    local_port: int
    """The head's port on this machine that the relay leads to."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

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
import errno, os, signal, socket, sys, threading, time
listen_host, listen_port, shared = sys.argv[1], int(sys.argv[2]), sys.argv[4:] == ["shared"]
target_host, _, target_port = sys.argv[3].rpartition(":")
target = (target_host or "127.0.0.1", int(target_port))
def stale_relays(port):
    held = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                for row in list(rows)[1:]:
                    fields = row.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                        held.add("socket:[%s]" % fields[9])
        except (IOError, OSError):
            pass
    with open("/proc/self/cmdline", "rb") as own:
        program = own.read().split(b"\\0")[1:3]
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as cmdline:
                if cmdline.read().split(b"\\0")[1:3] != program:
                    continue
            fds = "/proc/%s/fd" % pid
            if any(os.readlink(os.path.join(fds, fd)) in held for fd in os.listdir(fds)):
                yield int(pid)
        except (IOError, OSError):
            pass
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if shared:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
for attempt in range(50):
    try:
        server.bind((listen_host, listen_port))
        break
    except socket.error as exc:
        if shared and exc.errno == errno.EADDRINUSE:
            print(0, flush=True)
            sys.exit(0)
        if exc.errno != errno.EADDRINUSE or not listen_port or attempt == 49:
            raise
        for pid in stale_relays(listen_port):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        time.sleep(0.1)
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
            upstream = socket.create_connection(target)
        except OSError:
            client.close()
            continue
        for end in (client, upstream):
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(source, sink), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
os._exit(0)
"""
"""argv: LISTEN_HOST LISTEN_PORT (0: any) TARGET (a port on the login node's loopback, or
HOST:PORT) [shared]. Prints the port it listens on; exits when its stdin closes, that is, with the
SSH connection. A relay asked for a port that an earlier relay still listens on (its connection
cut, and the site's sshd has not noticed yet) ends that one first: the same program, holding that
very socket; only the user's own processes can be signalled. `shared` (a node's forwarder, one per
pilot) shares the port with the user's other forwarders there and prints 0 when something else
holds it. Python 3.6+, like the builder: login nodes have nothing newer."""


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

"""The relay program as a node's forwarder (`shared`): the user's glideins on one node share its
port, a port some other program holds is left to it, and bytes reach the target."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from vc3tui.engine.executors.relay import RELAY

pytestmark = pytest.mark.timeout(60)


def forwarder(port: int, target: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RELAY, "127.0.0.1", str(port), target, "shared"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def answer(server: socket.socket) -> None:
    while True:
        connection, _ = server.accept()
        connection.sendall(b"the head answers")
        connection.close()


def test_forwarders_share_a_port_and_leave_one_held_by_another_program() -> None:
    target = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=answer, args=(target,), daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first, second = forwarder(port, f"127.0.0.1:{target.getsockname()[1]}"), forwarder(port, f"127.0.0.1:{target.getsockname()[1]}")
    try:
        assert first.stdout.readline().strip() == second.stdout.readline().strip() == str(port)
        first.stdin.close()
        assert first.wait(10) == 0, "a forwarder ends with its stdin"
        with socket.create_connection(("127.0.0.1", port), 5) as client:
            assert client.recv(100) == b"the head answers", "the other still forwards"
        held = forwarder(target.getsockname()[1], "127.0.0.1:1")
        assert held.stdout.readline().strip() == "0" and held.wait(10) == 0, "a port another program holds is its own"
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
        target.close()

"""A port chosen on the head before its manager starts, for managers that cannot report the port
they picked themselves (Work Queue's manager is the user's program; HTCondor's collector must be
named in its own configuration)."""

from __future__ import annotations

from collections.abc import Sequence

RESERVE_PORT = """\
import os, socket, sys
path, host = sys.argv[1], sys.argv[2]
probe = socket.socket()
probe.bind((host, 0))
with open(path + ".tmp", "w") as out:
    out.write(str(probe.getsockname()[1]))
os.rename(path + ".tmp", path)
probe.close()
os.execvp(sys.argv[3], sys.argv[3:])
"""
"""Bind port 0 on the listen address, write the port the kernel gave to PATH, then exec the
command (which then runs in the same process, so pids and process groups are unchanged)."""


def reserving_port(port_file: str, host: str, argv: Sequence[str]) -> list[str]:
    """`argv`, run once a free port on `host` has been written to `port_file`."""
    # the python the builder found (the wrapper exports VC3_PYTHON), else the first on PATH
    return ["sh", "-c", 'exec "${VC3_PYTHON:-python3}" -c "$0" "$@"', RESERVE_PORT, port_file, host, *argv]

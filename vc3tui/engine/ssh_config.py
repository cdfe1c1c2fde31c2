"""The user's OpenSSH client config (~/.ssh/config): its Host entries, and where a connection to a
host really goes (HostName, Port, User, ProxyJump, IdentityFile, IdentityAgent), as `ssh` would.

asyncssh applies the same file to every connection it makes; this module is for what vc3tui must
know itself: which host and port a host key is filed under, what validation dials, and what a
resource or allocation made from a Host entry says.
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 22


def config_path() -> Path:
    return Path.home() / ".ssh" / "config"


@dataclass(frozen=True)
class Route:
    """Where a connection to `alias` goes: the host and port it reaches, as whom, through what."""

    alias: str
    hostname: str
    port: int
    user: str | None = None
    proxy_jump: str | None = None
    proxy_command: str | None = None
    identity_files: tuple[str, ...] = ()
    identity_agent: str | None = None
    host_key_alias: str | None = None

    @property
    def key_host(self) -> str:
        """The name its host key is filed under (HostKeyAlias, else the real host name)."""
        return self.host_key_alias or self.hostname

    @property
    def through(self) -> str | None:
        """What the connection is relayed through, if anything (a jump host or a proxy command)."""
        return self.proxy_jump or self.proxy_command


def route(host: str, port: int | None = None, *, path: Path | None = None) -> Route:
    """Where `ssh host` (with `-p port` when given) connects, by the user's config (read by
    asyncssh's own parser, imported here: the app's first frame needs none of asyncssh)."""
    from vc3tui.engine.sshlib import asyncssh  # noqa: F401  (the filtered import comes first)
    from asyncssh.config import SSHClientConfig

    path = path or config_path()
    paths = [path] if path.is_file() else []
    config = SSHClientConfig.load(None, paths, False, False, False, pwd.getpwuid(os.getuid()).pw_name, (), host, port if port else ())
    jump = config.get("ProxyJump")
    command = config.get("ProxyCommand")
    files = config.get("IdentityFile") or ()
    return Route(
        alias=host,
        hostname=str(config.get("Hostname", host)),
        port=int(config.get("Port", DEFAULT_PORT)),
        user=config.get("User"),
        proxy_jump=None if jump in (None, "none") else str(jump),
        proxy_command=" ".join(command) if isinstance(command, (list, tuple)) else command,
        identity_files=tuple(str(Path(f).expanduser()) for f in files),
        identity_agent=config.get("IdentityAgent"),
        host_key_alias=config.get("HostKeyAlias"),
    )


def host_entries(path: Path | None = None) -> list[str]:
    """The concrete names of the config's `Host` lines, in order (patterns and negations left out)."""
    path = path or config_path()
    try:
        text = path.read_text()
    except OSError:
        return []
    names: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].replace("=", " ").split()
        if len(words) > 1 and words[0].lower() == "host":
            names += [w for w in words[1:] if not re.search(r"[*?!]", w) and w not in names]
    return names

"""Host keys: our own known_hosts in the data dir, plus the user's ~/.ssh/known_hosts.

An unknown host is a question to the user with its SHA256 fingerprint; a changed key is refused
with both fingerprints and the fix. Checking is never switched off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.paths import update_file
from vc3tui.engine.sshlib import asyncssh

from vc3tui.engine.questions import QuestionChannel, QuestionKind
from vc3tui.engine.ssh_config import Route


HOST_KEY_TIMEOUT = 15.0


class HostKeyError(VC3Error):
    """The host's key is not one we trust; the message names the host, the keys and the fix."""


def host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class HostKeys:
    def __init__(self, own_file: Path, user_file: Path | None = None) -> None:
        self.own_file = own_file
        self.user_file = user_file if user_file is not None else Path.home() / ".ssh" / "known_hosts"

    def known(self) -> asyncssh.SSHKnownHosts:
        text = "".join(path.read_text() + "\n" for path in (self.own_file, self.user_file) if path.exists())
        return asyncssh.import_known_hosts(text)

    def trusted_keys(self, host: str, port: int) -> list[asyncssh.SSHKey]:
        return list(self.known().match(host, "", port)[0])

    def add(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        line = f"{host_pattern(host, port)} {key.export_public_key('openssh').decode().strip()}\n"
        update_file(self.own_file, lambda text: (text or "") + line, 0o644)

    async def ensure_trusted(
        self, route: Route, questions: QuestionChannel, *, accept: str | None = None, about: str = "", tunnel: asyncssh.SSHClientConnection | None = None
    ) -> asyncssh.SSHKnownHosts:
        """Known hosts to connect with; an unknown host is asked about (or `accept`ed by fingerprint).
        The key is looked at the way the login goes (through the user's ProxyJump, say) and filed
        under the host and port it belongs to, as OpenSSH files it."""
        host, port = route.key_host, route.port
        trusted = self.trusted_keys(host, port)
        # Ask only for the key types we already trust, so a host offering another type is refused.
        algorithms = sorted({alg.decode() for key in trusted for alg in key.sig_algorithms}) or ()
        try:
            offered = await asyncio.wait_for(
                asyncssh.get_server_host_key(route.alias if tunnel is None else route.hostname, port, server_host_key_algs=algorithms, tunnel=tunnel or ()), HOST_KEY_TIMEOUT
            )
        except (asyncssh.DisconnectError, ConnectionResetError):
            if not algorithms:
                raise
            # OpenSSH just drops a client whose key types it has none of: ask once more, unrestricted,
            # to say what it offers instead (a reset for another reason fails again here)
            other = await asyncio.wait_for(asyncssh.get_server_host_key(route.alias if tunnel is None else route.hostname, port, tunnel=tunnel or ()), HOST_KEY_TIMEOUT)
            instead = f": it offers {other.get_algorithm()} {other.get_fingerprint('sha256')}" if other else ""
            raise HostKeyError(
                f"{host_pattern(host, port)} no longer offers a host key of the type we trust ({', '.join(algorithms)}){instead}; "
                f"if the site announced new keys, remove its line from {self.own_file} and connect again, else do not connect"
            ) from None
        if offered is None:
            raise HostKeyError(f"{host}:{port} offered no host key")
        fingerprint = offered.get_fingerprint("sha256")
        if trusted:
            if any(key == offered for key in trusted):
                return self.known()
            known = ", ".join(sorted({k.get_fingerprint("sha256") for k in trusted}))
            raise HostKeyError(
                f"host key for {host_pattern(host, port)} changed: expected {known}, got {offered.get_fingerprint('sha256')} "
                f"({offered.get_algorithm()}); if the site announced a new key, remove the old line from "
                f"{self.own_file} (ssh-keygen -R '{host_pattern(host, port)}' -f {self.own_file}), else do not connect"
            )
        if accept is not None:
            if accept != fingerprint:
                raise HostKeyError(f"{host_pattern(host, port)} offers {fingerprint}, not the {accept} you accepted")
        else:
            answer = await questions.ask(
                QuestionKind.HOST_KEY,
                f"Trust {host_pattern(host, port)}? Its {offered.get_algorithm()} key is {fingerprint}",
                detail="Compare it with the fingerprint your site publishes before you accept.",
                about=about,
                hint_when_unanswered=f"pass --accept-host-key {fingerprint} after checking it with the site",
            )
            if answer.strip().lower() not in ("y", "yes"):
                raise HostKeyError(f"{host_pattern(host, port)}: host key {fingerprint} not accepted")
        self.add(host, port, offered)
        return self.known()

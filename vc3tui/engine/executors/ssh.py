"""The SSH executor: one long-lived asyncssh connection per allocation, shared by every command.

OpenSSH allows 10 sessions per connection and already fails at about 8 concurrent ones, so
channels are bounded (4 by default) with one slot that only control commands (status, submit,
cancel) may use: uploads and log fetches cannot starve the factory. MFA is answered once per
connection through the question channel (ssh_login.py); when such a connection drops the
allocation needs a new login, and the user is asked again. Commands are argv lists quoted with shlex; output is
taken after a marker, so a login shell that prints a banner cannot confuse a parser.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vc3tui.engine.errors import VC3Error
from vc3tui.engine.executors.relay import RELAY, ConnectBack
from vc3tui.engine.executors.ssh_login import Login, LoginClient, unlock_key
from vc3tui.engine.hostkeys import HostKeys
from vc3tui.engine.interfaces import CommandFailed, CommandResult, Terminal
from vc3tui.engine.questions import QuestionChannel
from vc3tui.engine.shell import DETACH, PUT, command_line, in_dir, kill_groups_script, with_env
from vc3tui.engine.ssh_config import Route, route
from vc3tui.engine.sshlib import asyncssh
from vc3tui.engine.states import AllocationState

MARK = "\x1evc3tui-output\x1e"
ATTACHED = "vc3tui-attached"
CHANNEL_RETRIES = 6
RECONNECT_ATTEMPTS = 5
KEEPALIVE_EVERY = 15
"""A connection with no answer to three of these in a row is lost (as ssh's ServerAliveInterval
15 / ServerAliveCountMax 3): a cut link is noticed within a minute, and reconnected after."""


class SSHError(VC3Error):
    """The site could not be reached or would not let us in; the message says why and what to do."""


@dataclass(frozen=True)
class SSHTarget:
    """Where and as whom to log in; None values are left to ~/.ssh/config."""

    host: str
    port: int | None = None
    login: str | None = None
    jump: str | None = None
    """A bastion to go through, [USER@]HOST[:PORT] (the resource's; else ~/.ssh/config's ProxyJump)."""
    key_path: Path | None = None
    passphrase: str | None = None
    accept_host_key: str | None = None
    max_channels: int = 4
    connect_timeout: float = 30.0
    command_timeout: float = 300.0
    about: str = ""
    use_keys: bool = True


class SSHExecutor:
    label = "ssh"
    python = "python3"

    def __init__(self, target: SSHTarget, host_keys: HostKeys, questions: QuestionChannel, *, on_login: Callable[[AllocationState, str], None] | None = None) -> None:
        self.target = target
        self.host_keys = host_keys
        self.questions = questions
        self.on_login = on_login
        self._asked_again = False
        self._passphrase = target.passphrase
        self.landed_on = ""
        self.login = Login(questions, self.who, target.about)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting = asyncio.Lock()
        self._any = asyncio.Semaphore(target.max_channels)
        self._bulk = asyncio.Semaphore(max(1, target.max_channels - 1))
        self._forwards: dict[tuple[str, int], asyncssh.SSHListener] = {}
        self._relays: dict[int, tuple[ConnectBack, asyncssh.SSHClientProcess, asyncssh.SSHListener]] = {}
        self._tunnel: asyncssh.SSHClientConnection | None = None

    @property
    def who(self) -> str:
        return f"{self.target.login + '@' if self.target.login else ''}{self.target.host}"

    @property
    def interactive(self) -> bool:
        """The last login was answered by a person (a password or code)."""
        return self.login.interactive

    @property
    def asks_person(self) -> bool:
        return not self.target.use_keys or self.login.interactive

    @property
    def used_code(self) -> bool:
        """The last login took a one-time code: a key alone does not get in, a new login asks again."""
        return self.login.used_code

    # the connection

    async def connection(self) -> asyncssh.SSHClientConnection:
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            if self._conn is not None:
                self._lost("the connection dropped")
            delay = 0.5
            for attempt in range(RECONNECT_ATTEMPTS):
                try:
                    self._conn = await self._connect()
                    if self._asked_again and self.on_login:
                        self.on_login(AllocationState.READY, "logged in again")
                    self._asked_again = False
                    break
                except (OSError, asyncio.TimeoutError, asyncssh.ConnectionLost) as exc:
                    if attempt == RECONNECT_ATTEMPTS - 1:
                        raise SSHError(f"{self.who}: cannot connect ({_reason(exc)}); check the host name, port and network") from None
                    await asyncio.sleep(delay + random.uniform(0, delay))
                    delay = min(delay * 2, 30)
            result = await self._exec(self._conn, "uname -n", None, self.target.command_timeout)
            self.landed_on = result.stdout.strip()
            return self._conn

    async def _connect(self) -> asyncssh.SSHClientConnection:
        target = self.target
        where = self.route
        options: dict = {}
        client_keys = await self._client_keys()
        if client_keys:
            options["client_keys"] = client_keys
        if target.jump:
            options["tunnel"] = await self._jump(client_keys)
        # a host we trust is checked by the login itself, against the key types we trust (no
        # second connection to look at its key first: on a far site that is two round trips)
        trusted = bool(self.host_keys.trusted_keys(where.key_host, where.port))
        known = self.host_keys.known() if trusted else await self.trust()
        options |= {
            "known_hosts": known,
            "client_factory": lambda: LoginClient(self.login),
            "keepalive_interval": KEEPALIVE_EVERY,
            "keepalive_count_max": 3,
            "login_timeout": target.connect_timeout,
            "connect_timeout": target.connect_timeout,
        }
        if target.login:
            options["username"] = target.login
        if target.port is not None:
            options["port"] = target.port
        if not target.use_keys:
            options |= {"client_keys": None, "agent_path": None, "preferred_auth": "keyboard-interactive,password"}
        self.login = Login(self.questions, self.who, target.about)
        try:
            return await asyncssh.connect(target.host, **options)
        except (asyncssh.PermissionDenied, asyncssh.ProtocolError):
            why = self.login.refusal or "the site refused the key, password or code"
            raise SSHError(f"{self.who}: permission denied: {why}; install the key (`vc3tui allocation install-key`) or check the login name") from None
        except (asyncssh.HostKeyNotVerifiable, asyncssh.KeyExchangeFailed, ConnectionResetError) as exc:
            if trusted:
                # the key changed, or the host no longer offers a type we trust: a look at what
                # it offers now says which, with the fix (a HostKeyError)
                await self.trust()
            if isinstance(exc, ConnectionResetError):
                raise  # a passing hiccup: connection() tries again
            raise SSHError(f"{self.who}: host key not verifiable: {_reason(exc)}") from None

    async def trust(self) -> asyncssh.SSHKnownHosts:
        """The site's host key checked (asked about when unknown), through the bastion if any."""
        target = self.target
        tunnel = await self._jump() if target.jump else None
        return await self.host_keys.ensure_trusted(self.route, self.questions, accept=target.accept_host_key, about=target.about, tunnel=tunnel)

    async def _client_keys(self) -> list | None:
        """The allocation's key as it is now (a renewed certificate is picked up); its passphrase is
        asked at most once a session."""
        if self.target.key_path is None:
            return None
        try:
            key, self._passphrase = await unlock_key(self.target.key_path, self._passphrase, self.questions, self.target.about)
        except VC3Error as exc:
            raise SSHError(str(exc)) from None
        return [key]

    async def _jump(self, client_keys: list | None = None) -> asyncssh.SSHClientConnection:
        """The bastion's connection the login goes through: its host key checked as any site's,
        the allocation's key (unlocked here unless the login already has it) and login used there
        too, as `ssh -J` does."""
        if self._tunnel is not None and not self._tunnel.is_closed():
            return self._tunnel
        user, _, rest = self.target.jump.rpartition("@")
        host, _, port = rest.partition(":")
        hop = route(host, int(port) if port else None)
        known = await self.host_keys.ensure_trusted(hop, self.questions, accept=None, about=self.target.about)
        options = {"known_hosts": known, "username": user or self.target.login, "connect_timeout": self.target.connect_timeout}
        client_keys = client_keys or await self._client_keys()
        if client_keys:
            options["client_keys"] = client_keys
        try:
            self._tunnel = await asyncssh.connect(hop.hostname, port=hop.port, **options)
        except (asyncssh.PermissionDenied, asyncssh.ProtocolError):
            raise SSHError(f"{self.target.jump}: permission denied on the bastion; install the allocation's key there too") from None
        return self._tunnel

    @property
    def route(self) -> Route:
        """Where the login goes, by ~/.ssh/config as it is now (HostName, Port, ProxyJump, ...),
        through the resource's own bastion when it names one."""
        found = route(self.target.host, self.target.port)
        return replace(found, proxy_jump=self.target.jump) if self.target.jump else found

    def _lost(self, reason: str) -> None:
        self._conn = None
        self._forwards.clear()
        self._relays.clear()
        if self.interactive and self.on_login:
            self._asked_again = True
            self.on_login(AllocationState.NEEDS_LOGIN, f"{reason}; the site asks for a password or code again at the next login")

    async def close(self) -> None:
        for conn in (self._conn, self._tunnel):
            if conn is not None:
                conn.close()
                await conn.wait_closed()
        self._conn = self._tunnel = None

    # commands

    async def run(self, argv: Sequence[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None, cwd: str | None = None, timeout: float | None = None) -> CommandResult:
        result = await self._channel(command_line(argv, env, cwd), stdin, timeout, bulk=False)
        return CommandResult(tuple(argv), result.returncode, result.stdout, result.stderr)

    async def run_script(self, script: str, *, timeout: float | None = None) -> CommandResult:
        return await self._channel("exec sh -s", script.encode(), timeout, bulk=False)

    async def _channel(self, command: str, stdin: bytes | None, timeout: float | None, *, bulk: bool) -> CommandResult:
        """One exec channel, retried while the server is out of sessions (ChannelOpenError)."""
        delay = 0.1
        for attempt in range(CHANNEL_RETRIES):
            conn = await self.connection()
            try:
                if bulk:
                    async with self._bulk, self._any:
                        return await self._exec(conn, command, stdin, timeout)
                async with self._any:
                    return await self._exec(conn, command, stdin, timeout)
            except asyncssh.ChannelOpenError:
                if attempt == CHANNEL_RETRIES - 1:
                    raise SSHError(f"{self.who}: the server keeps refusing new sessions (MaxSessions); lower max_channels") from None
                await asyncio.sleep(delay + random.uniform(0, delay))
                delay *= 2
            except (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError, ConnectionResetError) as exc:
                self._lost(f"connection to {self.who} lost: {_reason(exc)}")
                raise SSHError(f"{self.who}: connection lost during a command ({_reason(exc)}); it reconnects on the next one") from None
        raise AssertionError("unreachable")

    async def _exec(
        self, conn: asyncssh.SSHClientConnection, command: str, stdin: bytes | None, timeout: float | None
    ) -> CommandResult:
        marked = f"printf '%s' {shlex.quote(MARK)}; printf '%s' {shlex.quote(MARK)} >&2; {command}"
        try:
            # no input, or an empty one: the remote end reads EOF at once (not a pipe left open)
            source = {"input": stdin} if stdin else {"stdin": asyncssh.DEVNULL}
            result = await conn.run(marked, **source, timeout=timeout or self.target.command_timeout, check=False, encoding=None)
        except asyncssh.TimeoutError:
            raise SSHError(f"{self.who}: command timed out after {timeout or self.target.command_timeout:.0f} s") from None
        return CommandResult(
            ("sh", "-c", command),
            result.exit_status if result.exit_status is not None else 255,
            _after_mark(bytes(result.stdout or b"").decode(errors="replace")),
            _after_mark(bytes(result.stderr or b"").decode(errors="replace")),
        )

    # files

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """`data` on stdin to a temporary name (0600 until whole), then renamed over the target:
        readers see old or new, never half. One command, where SFTP takes some six round trips
        (a far site's gate file or secrets wait on each), and nothing on a command line."""
        result = await self._channel(shlex.join(["sh", "-c", PUT, "sh", path, f"{mode:o}"]), data, None, bulk=True)
        if not result.ok:
            raise OSError(f"{self.who}: cannot write {path}: {result.stderr.strip() or f'exit status {result.returncode}'}")

    async def get(self, path: str) -> bytes:
        """The file's bytes; a file that is missing or unreadable there is an OSError, as here."""
        async with self._bulk, self._any:
            conn = await self.connection()
            async with conn.start_sftp_client() as sftp:
                try:
                    async with sftp.open(path, "rb") as source:
                        return await source.read()
                except asyncssh.SFTPNoSuchFile as exc:
                    raise FileNotFoundError(errno.ENOENT, exc.reason, path) from None
                except asyncssh.SFTPError as exc:
                    raise OSError(errno.EIO, exc.reason, path) from None

    async def spawn(self, argv: Sequence[str], *, log_path: str, pid_file: str = "", cwd: str | None = None, env: Mapping[str, str] | None = None) -> int:
        """Detached on the login node: it holds no channel of ours once this returns."""
        result = await self.run([self.python, "-c", DETACH, log_path, cwd or "", pid_file, *argv], env=env, timeout=60)
        if not result.ok:
            raise CommandFailed(result)
        return int(result.stdout.strip().splitlines()[-1])

    async def attach(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, stdout: int, stderr: int) -> int:
        """On the login node, its output streamed to `stdout` and `stderr` as it comes. Cancelling
        it TERMs the remote process group (sshd makes the shell a group leader; closing a channel
        without a tty signals nothing)."""
        conn = await self.connection()
        command = in_dir(cwd, f"echo {ATTACHED} $$ >&2 && {with_env(argv, env)}")
        async with self._any:
            process = await conn.create_process(command, encoding=None)
            pid: list[str] = []
            try:
                await asyncio.gather(
                    _pump(process.stdout, stdout), _pump(process.stderr, stderr, pid)
                )
                await process.wait()
            except asyncio.CancelledError:
                if pid:
                    await self.run_script(kill_groups_script("TERM", [int(pid[0])]), timeout=30)
                process.close()
                raise
        return process.exit_status if process.exit_status is not None else 255

    async def interact(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, terminal: Terminal) -> int:
        """On the login node with a terminal of its own, over the kept connection (no second login
        or MFA): while the front end holds its terminal raw, every byte is passed through until
        the command ends."""
        conn = await self.connection()
        command = in_dir(cwd, with_env(argv, env))
        loop = asyncio.get_running_loop()
        async with self._any:
            process = await conn.create_process(command, term_type=terminal.term_type, term_size=terminal.size(), encoding=None)
            with terminal.raw():
                loop.add_reader(terminal.keyboard, lambda: process.stdin.write(os.read(terminal.keyboard, 4096)))
                try:
                    await _pump(process.stdout, terminal.screen)
                    await process.wait()
                finally:
                    loop.remove_reader(terminal.keyboard)
        return process.exit_status if process.exit_status is not None else 255

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        """A local port that reaches host:port as the login node sees it (for a manager's HTTP API)."""
        key = (host, port)
        if key not in self._forwards:
            conn = await self.connection()
            self._forwards[key] = await conn.forward_local_port("127.0.0.1", 0, host, port)
        return "127.0.0.1", self._forwards[key].get_port()

    async def connect_back(self, local_port: int, *, relay_port: int = 0) -> ConnectBack:
        """A port on the login node, open to its compute nodes, whose connections reach
        `local_port` on this machine; `relay_port` asks for the same port again (a reconnect),
        0 for any. Kept while the connection lasts; asked again after a reconnect, it is rebuilt."""
        kept = self._relays.get(local_port)
        if kept and not kept[1].is_closing() and self._conn is not None and not self._conn.is_closed():
            return kept[0]
        conn = await self.connection()
        forward = await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", local_port)
        command = f"{self.python} -c {shlex.quote(RELAY)} 0.0.0.0 {int(relay_port)} {forward.get_port()}"
        process = await conn.create_process(command, encoding="utf-8")
        line = await asyncio.wait_for(process.stdout.readline(), self.target.command_timeout)
        if not line.strip().isdigit():
            process.close()
            forward.close()
            error = (await process.stderr.read()).strip().splitlines()
            raise SSHError(f"{self.who}: cannot start the connect-back relay: {error[-1] if error else 'no port reported'}")
        relay = ConnectBack(self.landed_on, int(line), local_port)
        self._relays[local_port] = (relay, process, forward)
        return relay

    def end_connect_back(self, local_port: int) -> None:
        """The relay to a head that stopped ends (its stdin closes), and its forward with it: a
        later head here may be given the same port."""
        kept = self._relays.pop(local_port, None)
        if kept:
            kept[1].close()
            kept[2].close()


async def _pump(stream: asyncssh.SSHReader, fd: int, pid: list[str] | None = None) -> None:
    """Copy a remote stream to a local descriptor; the first stderr line carries the remote pid."""
    while chunk := await stream.read(65536):
        if pid is not None and not pid and chunk.startswith(ATTACHED.encode()):
            line, _, chunk = chunk.partition(b"\n")
            pid.append(line.split()[-1].decode())
        if chunk:
            await asyncio.to_thread(os.write, fd, chunk)


def _after_mark(text: str) -> str:
    return text.split(MARK, 1)[1] if MARK in text else text


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__

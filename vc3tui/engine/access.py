"""Getting into an allocation's site: its executor, its key, installing the key, validating.

One executor per allocation, kept for the life of the engine, so a site that asks for MFA asks
once per session, not per command. SSH (asyncssh, a fifth of a second to import) is imported on
first use: showing a view needs none of it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import replace
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vc3tui.engine.async_store import AsyncStore
from vc3tui.engine.catalog import LOCAL, Catalog
from vc3tui.engine.errors import VC3Error
from vc3tui.engine.executors.local import LocalExecutor
from vc3tui.engine.fields import checked
from vc3tui.engine.interfaces import Executor
from vc3tui.engine.models import Allocation, Resource, StageResult
from vc3tui.engine.paths import Dirs
from vc3tui.engine.questions import QuestionChannel
from vc3tui.engine.ssh_config import Route, config_path, host_entries, route
from vc3tui.engine.states import AllocationState
from vc3tui.engine.store import Store

if TYPE_CHECKING:
    from vc3tui.engine.executors.ssh import SSHExecutor, SSHTarget
    from vc3tui.engine.hostkeys import HostKeys
    from vc3tui.engine.keys import KeyPair


class AccessError(VC3Error):
    """The allocation or its resource cannot be used as asked; the message says what to do."""


class SiteAccess:
    def __init__(self, dirs: Dirs, store: AsyncStore, catalog: Callable[[], Catalog], questions: QuestionChannel) -> None:
        self.dirs = dirs
        self.store = store
        self.catalog = catalog
        self.questions = questions
        self.local = LocalExecutor()
        self._executors: dict[str, SSHExecutor] = {}
        self.on_state_change: Callable[[str, AllocationState], None] | None = None

    @functools.cached_property
    def host_keys(self) -> HostKeys:
        from vc3tui.engine.hostkeys import HostKeys

        return HostKeys(self.dirs.data / "known_hosts")

    def key(self, allocation: Allocation) -> KeyPair:
        """The allocation's key pair (public half and fingerprint; the private half stays a path)."""
        from vc3tui.engine.keys import load_public

        if not allocation.key_path:
            raise AccessError(f"allocation {allocation.name} has no key yet; give it your login and key first")
        return load_public(Path(allocation.key_path))

    @staticmethod
    def ssh_hosts() -> list[str]:
        """The Host entries of the user's ~/.ssh/config, patterns left out."""
        return host_entries()

    @staticmethod
    def ssh_host(host: str) -> Route:
        """Where `ssh HOST` goes (HostName, Port, User, ProxyJump, keys); AccessError when
        ~/.ssh/config has no such Host entry."""
        known = host_entries()
        if host not in known:
            raise AccessError(f"no `Host {host}` in {config_path()}; its Host entries: {', '.join(known) or 'none'}")
        return route(host)

    def resource_of(self, allocation: Allocation) -> Resource:
        resource = self.catalog().get(allocation.resource)
        if resource is None:
            raise AccessError(f"allocation {allocation.name}: resource {allocation.resource!r} is not in the catalog; add it with `vc3tui resource add`")
        return resource

    def target(self, allocation: Allocation, *, accept_host_key: str | None = None, use_keys: bool = True) -> SSHTarget:
        resource = self.resource_of(allocation)
        if not resource.login_hosts:
            raise AccessError(f"resource {resource.name} has no login host; set login_hosts")
        from vc3tui.engine.executors.ssh import SSHTarget
        from vc3tui.engine.keys import check_private_key_file

        key = Path(allocation.key_path) if allocation.key_path and use_keys else None
        if key is not None:
            check_private_key_file(key)
        return SSHTarget(
            host=resource.login_hosts[0],
            port=resource.port,
            login=allocation.login,
            jump=resource.proxy_jump,
            key_path=key,
            accept_host_key=accept_host_key,
            max_channels=resource.max_channels,
            about=f"allocation {allocation.name}",
            use_keys=use_keys,
        )

    def executor(self, allocation: Allocation, *, accept_host_key: str | None = None) -> Executor:
        """The one kept executor of an allocation; `local`, and resources without a login host
        (vc3tui running on the site's login node itself), run here."""
        if allocation.resource == LOCAL or not self.resource_of(allocation).login_hosts:
            return self.local
        from vc3tui.engine.executors.ssh import SSHExecutor

        existing = self._executors.get(allocation.name)
        if existing is None or (accept_host_key and existing.target.accept_host_key != accept_host_key):
            existing = SSHExecutor(
                self.target(allocation, accept_host_key=accept_host_key),
                self.host_keys,
                self.questions,
                on_login=lambda state, reason: self._record_state(allocation.name, state, reason),
            )
            self._executors[allocation.name] = existing
        return existing

    def _record_state(self, name: str, state: AllocationState, reason: str) -> None:
        """A kept MFA connection dropped (needs_login) or was logged in again (ready)."""
        if self.on_state_change:
            self.on_state_change(name, state)

        async def record() -> None:
            allocation = await self.store.run(Store.allocation, name)
            if allocation is not None and allocation.state is not state:
                allocation.move(state, reason)
                await self.store.run(Store.put_allocation, allocation)

        asyncio.get_running_loop().create_task(record())

    async def close(self) -> None:
        for executor in self._executors.values():
            await executor.close()
        self._executors.clear()

    async def create(
        self, name: str, resource: str, login: str | None, *, key_path: Path | None = None, account: str | None = None, passphrase: str | None = None
    ) -> tuple[Allocation, KeyPair]:
        """A new allocation with its key pair; or the user's login and key for one a project
        imported ("needs your login"), keeping its resource, account and owner."""
        from vc3tui.engine.keys import certificate_expiry, create_key, key_file, load_public

        fresh = checked(Allocation, {"name": name, "resource": resource, "login": login, "account": account}, "allocation")  # before any file is made
        existing = await self.store.run(Store.allocation, name)
        claimed = existing is not None and existing.state is AllocationState.NEEDS_LOGIN and not existing.key_path
        if (existing is not None and not claimed) or name == LOCAL:
            raise AccessError(f"allocation {name!r} already exists; pick another name or delete it first")
        if claimed and resource != existing.resource:
            raise AccessError(f"allocation {name!r} is the project's allocation on {existing.resource}, not on {resource}")
        site = self.catalog().get(resource)
        if site is None:
            raise AccessError(f"no resource named {resource!r}; `vc3tui resource list` shows the catalog")
        if site.retired and not claimed:
            raise AccessError(f"{resource} was retired in {site.retired}; pick a current site (`vc3tui resource list`)")
        host = site.login_hosts[0] if site.login_hosts else "this machine"
        if key_path is None and site.login_hosts:
            # the key the user's ~/.ssh/config names for that host is the one to use
            key_path = next((Path(f) for f in route(host).identity_files if Path(f).is_file()), None)
        made = key_path is None and not key_file(self.dirs.data, name).exists()
        pair = load_public(key_path, passphrase) if key_path else create_key(self.dirs.data, name, host, passphrase)
        try:
            allocation = existing.model_copy() if claimed else fresh
            allocation.login, allocation.key_path = login, str(pair.private)
            allocation.account = account or allocation.account
            allocation.certificate_expires = certificate_expiry(pair.private)
            if claimed:
                allocation.state, allocation.reason = AllocationState.NEW, "your login; install the key and validate"
            await self.store.run(Store.put_allocation, allocation)
        except BaseException:
            if made:  # a pair made for a row that was never written is an orphan
                for path in (pair.private, Path(f"{pair.private}.pub")):
                    path.unlink(missing_ok=True)
            raise
        return allocation, pair

    async def install_key(self, allocation: Allocation, *, accept_host_key: str | None = None) -> str:
        """Put the allocation's public key in the site's authorized_keys through one password login.

        A login that took a one-time code becomes the allocation's kept connection, so validating
        next does not ask for another code (the key alone never gets in there); any other login is
        closed, and the validation proves the key by logging in with it."""
        from vc3tui.engine.executors.ssh import SSHExecutor
        pair = self.key(allocation)
        executor = SSHExecutor(
            self.target(allocation, accept_host_key=accept_host_key, use_keys=False), self.host_keys, self.questions,
            on_login=lambda state, reason: self._record_state(allocation.name, state, reason),
        )  # fmt: skip
        try:
            result = await executor.run_script(pair.paste_line + "\n")
            if not result.ok:
                raise AccessError(f"allocation {allocation.name}: installing the key failed: {result.summary()}")
        except BaseException:
            await executor.close()
            raise
        if executor.used_code:
            executor.target = replace(executor.target, use_keys=True, key_path=Path(allocation.key_path))
            previous = self._executors.pop(allocation.name, None)
            if previous is not None:
                await previous.close()
            self._executors[allocation.name] = executor
        else:
            await executor.close()
        return executor.landed_on

    async def validate(
        self, allocation: Allocation, *, accept_host_key: str | None = None, on_stage: Callable[[StageResult], None] | None = None
    ) -> Allocation:
        """Run the stages, keep the report on the allocation, and set its state from the outcome."""
        from vc3tui.engine.keys import certificate_expiry
        from vc3tui.engine.validation import expand_remote_path, validate

        resource = self.resource_of(allocation)
        executor = self.executor(allocation, accept_host_key=accept_host_key)
        report, allocation.reach = await validate(resource, executor, on_stage, account=allocation.account, installation_id=self.store.store.installation_id)
        allocation.report = report
        allocation.certificate_expires = certificate_expiry(Path(allocation.key_path)) if allocation.key_path else None
        failed = next((stage for stage in report if not stage.ok), None)
        if failed is None:
            base = resource.scratch_dir or "~"
            allocation.workdir = f"{await expand_remote_path(executor, base)}/.vc3tui"
            allocation.landed_on = getattr(executor, "landed_on", "") or None
            allocation.move(AllocationState.READY, f"validated {time.strftime('%Y-%m-%d %H:%M')}")
        elif failed.stage == "authenticate" and allocation.certificate_expires and allocation.certificate_expires < time.time():
            allocation.move(AllocationState.NEEDS_LOGIN, "the SSH certificate expired; log in to the site's certificate service again")
        else:
            allocation.move(AllocationState.VALIDATION_FAILURE, f"{failed.stage}: {failed.detail}")
        await self.store.run(Store.put_allocation, allocation)
        return allocation

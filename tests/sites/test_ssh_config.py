"""Sites from the user's ~/.ssh/config: a resource and an allocation made from a Host entry reach
the real test-bed sshd on a port, as a user and with a key that only the config names, the
host-key probe and validation's first stages included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input, Select

from tests.testbed.sshd import USER
from tests.tui import running_app
from tests.waiting import wait_until_async
from vc3tui.engine.catalog import load_catalog
from vc3tui.engine.paths import Dirs
from vc3tui.engine.sshlib import asyncssh
from vc3tui.engine.ssh_config import host_entries, route
from vc3tui.engine.store import Store
from vc3tui.screens.allocation_wizard import AllocationWizardScreen

pytestmark = pytest.mark.timeout(120)

CONFIG = """\
# the user's own hosts
Host testsite
    HostName 127.0.0.1
    Port {port}
    User {user}
    IdentityFile ~/keys/site_key

Host *.example.org !bad.example.org
    User someone

Host jumped = other
    HostName 10.1.2.3
    ProxyJump testsite
"""


def write_config(home: Path, port: int) -> Path:
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    path = home / ".ssh" / "config"
    path.write_text(CONFIG.format(port=port, user=USER))
    return path


def test_a_config_says_where_each_host_goes(user_home: Path) -> None:
    path = write_config(user_home, 2299)
    assert host_entries(path) == ["testsite", "jumped", "other"]
    site = route("testsite")
    assert (site.hostname, site.port, site.user, site.through) == ("127.0.0.1", 2299, USER, None)
    assert site.identity_files == (str(user_home / "keys" / "site_key"),)
    assert route("testsite", 2200).port == 2200, "a port the resource names wins, as with ssh -p"
    jumped = route("jumped")
    assert (jumped.hostname, jumped.port, jumped.through) == ("10.1.2.3", 22, "testsite")
    assert route("elsewhere.example.org").user == "someone" and route("plain").hostname == "plain"


def vc3tui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vc3tui", *args], capture_output=True, text=True, timeout=90, env=dict(os.environ))


def test_a_resource_and_allocation_from_a_config_host_validate_on_the_real_sshd(ssh_site, home: Path, user_home: Path) -> None:
    write_config(user_home, ssh_site.port)
    keys = user_home / "keys"
    keys.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "config key", "-f", str(keys / "site_key")], check=True)
    ssh_site.write_user_file(".ssh/authorized_keys", (keys / "site_key.pub").read_text())

    missing = vc3tui("resource", "add", "lab", "--from-ssh-config", "nosuch", "--batch", "fork")
    assert missing.returncode == 2
    assert missing.stderr == f"vc3tui: no `Host nosuch` in {user_home}/.ssh/config; its Host entries: testsite, jumped, other\n"

    assert vc3tui("resource", "add", "lab", "--from-ssh-config", "testsite", "--batch", "fork").returncode == 0
    resource = load_catalog(Dirs.from_environment().user_resources).get("lab")
    assert resource.login_hosts == ["testsite"] and resource.port is None, "the port lives in the config alone"
    created = vc3tui("allocation", "create", "lab1", "--resource", "lab")
    assert created.returncode == 0, created.stderr
    assert f"key {keys / 'site_key'}" in created.stdout

    fingerprint = asyncssh.read_public_key(ssh_site.root / "host_ed25519.pub").get_fingerprint("sha256")
    validated = vc3tui("--no-input", "allocation", "validate", "lab1", "--accept-host-key", fingerprint)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    store = Store(Dirs.from_environment().database)
    allocation = store.allocation("lab1")
    store.close()
    stages = {stage.stage: stage for stage in allocation.report}
    assert allocation.state == "ready", allocation.report
    assert (allocation.login, allocation.key_path) == (None, str(keys / "site_key")), "the config's User and IdentityFile"
    assert stages["resolve host"].detail == "127.0.0.1" and stages["TCP connect"].detail == f"port {ssh_site.port} open"
    known = (home / "data" / "known_hosts").read_text()
    assert known.startswith(f"[127.0.0.1]:{ssh_site.port} "), "the host key is filed where it belongs, not under the alias"


def test_validation_through_a_jump_host_leaves_the_first_stages_to_the_login(user_home: Path) -> None:
    from vc3tui.engine.executors.ssh import SSHExecutor, SSHTarget

    write_config(user_home, 2299)
    executor = SSHExecutor(SSHTarget(host="jumped"), host_keys=None, questions=None)  # type: ignore[arg-type]
    assert executor.route.through == "testsite" and executor.route.hostname == "10.1.2.3"


async def test_the_wizard_offers_the_configs_hosts_and_takes_their_login_and_key(dirs: Dirs, user_home: Path) -> None:
    write_config(user_home, 2299)
    key = user_home / "keys" / "site_key"
    key.parent.mkdir()
    key.write_text("not read here")
    async with running_app(dirs, (120, 40)) as pilot:
        await pilot.press("colon", *"allocations", "enter", "n")
        await wait_until_async(lambda: isinstance(pilot.app.screen, AllocationWizardScreen), 10, "the wizard")
        wizard = pilot.app.screen
        hosts = wizard.query_one("#ssh-host", Select)
        assert [value for _, value in hosts._options if isinstance(value, str)] == ["testsite", "jumped", "other"]
        assert not wizard.query_one("#ssh-batch").display
        hosts.value = "testsite"
        await pilot.pause()
        assert wizard.query_one("#login-name", Input).value == USER
        assert wizard.query_one("#key-path", Input).value == str(key)
        assert wizard.query_one("#name", Input).value == "testsite" and wizard.query_one("#ssh-batch").display
        assert all(not pilot.app.engine.catalog.get(value).retired for _, value in wizard.query_one("#resource", Select)._options if isinstance(value, str))
        assert wizard._add_ssh_resource()
        saved = load_catalog(dirs.user_resources).get("testsite")
        assert saved.login_hosts == ["testsite"] and saved.batch == "slurm" and saved.port is None

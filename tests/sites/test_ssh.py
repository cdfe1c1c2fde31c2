"""Allocations over SSH against a real OpenSSH sshd: keys, host keys, MFA once, certificates,
reconnects, channel limits, noisy shells and injection (validation stage by stage: test_ssh_validation)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

from vc3tui.engine.engine import Engine
from vc3tui.engine.executors.ssh import SSHError
from vc3tui.engine.hostkeys import HostKeyError
from vc3tui.engine.questions import QuestionKind
from vc3tui.engine.staging import stage_files, staged_path
from vc3tui.engine.states import AllocationState

from tests.ssh_site import Answers, add_resource, engine_with, fingerprint
from tests.testbed.sshd import USER

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def site(ssh_site):
    """Here every test's site is the plain sshd (not SLURM's login node)."""
    return ssh_site


async def test_key_installed_by_password_then_used_idempotently(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, pair = await engine_with(new_engine, site)
    authorized = site.write_user_file(".ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherLineKeptAsItWas other@host\n")
    await engine.access.install_key(allocation)
    await engine.access.install_key(allocation)
    lines = authorized.read_text().splitlines()
    assert lines[0].endswith("other@host")
    assert lines.count(pair.public_line) == 1 and len(lines) == 2
    assert oct(authorized.stat().st_mode & 0o777) == "0o600"
    assert answers.asked[QuestionKind.PASSWORD] == 2

    validated = await engine.access.validate(allocation)
    assert validated.state is AllocationState.READY, validated.reason
    stages = {s.stage: s for s in validated.report}
    assert "with a key" in stages["authenticate"].detail
    assert answers.asked[QuestionKind.PASSWORD] == 2, "the key, not a password, was used"
    assert validated.workdir == f"{site.home}/.vc3tui"
    assert list(stages) == [
        "resolve host", "TCP connect", "host key", "authenticate", "run a command", "home writable",
        "scratch writable", "python3", "batch commands", "system",
    ]  # fmt: skip
    assert all(s.seconds >= 0 for s in validated.report)
    stored = engine.store.store.allocation("lab1")
    assert stored.state is AllocationState.READY and len(stored.report) == 10


async def test_passphrase_protected_key_is_unlocked_by_asking_once(site, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine()
    add_resource(engine, "lab", site.port)
    answers = Answers(engine, {QuestionKind.HOST_KEY: "yes", QuestionKind.PASSWORD: "key passphrase 1"})
    allocation, pair = await engine.access.create("lab1", "lab", USER, passphrase="key passphrase 1")
    site.write_user_file(".ssh/authorized_keys", pair.public_line + "\n")
    with pytest.raises(asyncssh.KeyImportError, match="Passphrase must be specified"):
        asyncssh.read_private_key(pair.private)
    validated = await engine.access.validate(allocation)
    assert validated.state is AllocationState.READY, validated.reason
    assert answers.prompts.count("Passphrase for lab1_ed25519:") == 1


async def test_mfa_validation_asks_password_and_code_exactly_once(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site, port=site.mfa_port)
    validated = await engine.access.validate(allocation)
    assert validated.state is AllocationState.READY, validated.reason
    assert answers.asked == Counter({QuestionKind.HOST_KEY: 1, QuestionKind.PASSWORD: 1, QuestionKind.OTP: 1})
    assert any("One-time password" in p for p in answers.prompts)
    # more commands on the kept connection ask nothing: no second login, so no second code
    executor = engine.access.executor(allocation)
    results = await asyncio.gather(*(executor.run(["echo", str(i)]) for i in range(5)))
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(5)]
    assert answers.asked[QuestionKind.OTP] == 1


async def test_installing_on_an_mfa_site_keeps_that_login_for_validation(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, pair = await engine_with(new_engine, site, port=site.mfa_port)
    await engine.access.install_key(allocation)
    assert pair.public_line in (site.home / ".ssh" / "authorized_keys").read_text()
    validated = await engine.access.validate(allocation)
    assert validated.state is AllocationState.READY, validated.reason
    assert answers.asked == Counter({QuestionKind.HOST_KEY: 1, QuestionKind.PASSWORD: 1, QuestionKind.OTP: 1})


async def test_mfa_connection_dropping_needs_login_and_asks_again(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site, port=site.mfa_port)
    executor = engine.access.executor(allocation)
    await executor.run(["true"])
    assert answers.asked[QuestionKind.OTP] == 1
    for pid in site.connection_children("sshd-mfa"):
        os.kill(pid, 9)
    await asyncio.sleep(0.5)
    states = []
    engine.access.on_state_change = lambda name, state: states.append(state)
    try:
        await executor.run(["true"])
    except SSHError as exc:
        assert "connection lost" in str(exc)
    assert (await executor.run(["echo", "back"])).stdout == "back\n"
    assert answers.asked[QuestionKind.OTP] == 2, "the user is asked again, once"
    assert states == [AllocationState.NEEDS_LOGIN, AllocationState.READY]


async def test_a_known_host_offering_another_key_type_is_refused(site, new_engine: Callable[..., Engine]) -> None:
    """Trusted: an ECDSA key. Offered: only the ed25519 one the test sshd has. No downgrade, no question."""
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    engine.access.host_keys.add("127.0.0.1", site.port, asyncssh.generate_private_key("ecdsa-sha2-nistp256"))
    validated = await engine.access.validate(allocation)
    failed = validated.report[-1]
    assert (failed.stage, failed.ok) == ("host key", False)
    assert "no longer offers a host key of the type we trust (ecdsa-sha2-nistp256)" in failed.detail
    assert answers.asked[QuestionKind.HOST_KEY] == 0


async def test_changed_host_key_is_refused_with_both_fingerprints(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    other = asyncssh.generate_private_key("ssh-ed25519")
    engine.access.host_keys.add("127.0.0.1", site.port, other)
    validated = await engine.access.validate(allocation)
    failed = validated.report[-1]
    assert (failed.stage, failed.ok) == ("host key", False)
    assert other.get_fingerprint("sha256") in failed.detail and fingerprint(site) in failed.detail
    assert "ssh-keygen -R" in failed.detail
    assert validated.state is AllocationState.VALIDATION_FAILURE
    assert answers.asked[QuestionKind.HOST_KEY] == 0


async def test_a_trusted_host_is_reached_in_one_connection(site, new_engine: Callable[..., Engine]) -> None:
    """Its key is checked by the login itself: no second connection just to look at the key first."""
    engine, _, allocation, _ = await engine_with(new_engine, site)
    await engine.access.install_key(allocation)
    await engine.access.close()
    log = site.root / "sshd.log"
    before = log.read_text().count("Connection from")
    assert (await engine.access.executor(allocation).run(["echo", "in"])).stdout == "in\n"
    assert log.read_text().count("Connection from") - before == 1


async def test_a_host_key_changed_since_it_was_trusted_stops_the_next_login(site, new_engine: Callable[..., Engine]) -> None:
    """Trusted once (the wizard); the site's key then changes: the kept connection's next login is
    refused with both fingerprints and the fix, not retried and not a bare "not verifiable"."""
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    await engine.access.install_key(allocation)
    await engine.access.close()
    other = asyncssh.generate_private_key("ssh-ed25519")
    own = engine.access.host_keys.own_file
    own.write_text(f"[127.0.0.1]:{site.port} {other.export_public_key('openssh').decode().strip()}\n")
    with pytest.raises(HostKeyError) as refused:
        await engine.access.executor(allocation).run(["true"])
    assert other.get_fingerprint("sha256") in str(refused.value) and fingerprint(site) in str(refused.value)
    assert "ssh-keygen -R" in str(refused.value) and answers.asked[QuestionKind.HOST_KEY] == 1


async def test_unknown_host_without_input_fails_with_the_flag_to_use(site, new_engine: Callable[..., Engine]) -> None:
    engine = new_engine(interactive=False)
    add_resource(engine, "lab", site.port)
    allocation, _ = await engine.access.create("lab1", "lab", USER)
    validated = await engine.access.validate(allocation)
    assert validated.report[-1].stage == "host key"
    assert f"--accept-host-key {fingerprint(site)}" in validated.report[-1].detail
    wrong = await engine.access.validate(allocation, accept_host_key="SHA256:not-the-key")
    assert "not the SHA256:not-the-key you accepted" in wrong.report[-1].detail


async def test_certificate_login_and_expiry_means_needs_login(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, pair = await engine_with(new_engine, site, replies={QuestionKind.HOST_KEY: "yes"})
    site.sign_user_key(Path(f"{pair.private}.pub"), "+1h")
    good = await engine.access.validate(allocation)
    assert good.state is AllocationState.READY, good.reason
    assert answers.asked[QuestionKind.PASSWORD] == 0, "the certificate, not a password, let us in"
    assert good.certificate_expires and good.certificate_expires > 0
    await engine.access.close()
    site.sign_user_key(Path(f"{pair.private}.pub"), "-2h:-1h")
    expired = await engine.access.validate(allocation)
    assert expired.state is AllocationState.NEEDS_LOGIN
    assert "certificate expired" in expired.reason


async def test_killed_connection_reconnects_for_the_next_command(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, pair = await engine_with(new_engine, site)
    await engine.access.install_key(allocation)
    executor = engine.access.executor(allocation)
    assert (await executor.run(["echo", "one"])).stdout == "one\n"
    children = site.connection_children()
    assert children
    for pid in children:
        os.kill(pid, 9)
    await asyncio.sleep(0.3)
    try:
        await executor.run(["echo", "lost"])
    except SSHError as exc:
        assert "connection lost" in str(exc) or "cannot connect" in str(exc)
    assert (await executor.run(["echo", "two"])).stdout == "two\n"


async def test_twenty_concurrent_commands_on_one_connection(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    await engine.access.install_key(allocation)
    executor = engine.access.executor(allocation)
    results = await asyncio.gather(*(executor.run(["sh", "-c", f"sleep 0.2; echo {i}"]) for i in range(20)))
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(20)]
    assert len(site.connection_children()) == 1, "one kept connection"


async def test_noisy_login_shell_does_not_break_parsing(site, new_engine: Callable[..., Engine]) -> None:
    site.write_user_file(".bashrc", 'echo "Welcome to the cluster! [maintenance Tuesday]"\necho "stderr banner" >&2\n', 0o644)
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    await engine.access.install_key(allocation)
    validated = await engine.access.validate(allocation)
    assert validated.state is AllocationState.READY, validated.reason
    result = await engine.access.executor(allocation).run(["printf", "%s", "exact"])
    assert (result.stdout, result.stderr) == ("exact", "")


async def test_shell_metacharacters_are_arguments_never_commands(site, tmp_path: Path, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    victim = tmp_path / "injected"
    await engine.access.install_key(allocation)
    executor = engine.access.executor(allocation)
    nasty = [f"; touch {victim}", f"$(touch {victim})", f"`touch {victim}`", f"' ; touch {victim}; '", f'" ; touch {victim}; "', f"\ntouch {victim}\n"]
    result = await executor.run(["printf", "%s|", *nasty])
    assert result.stdout == "|".join(nasty) + "|"
    result = await executor.run(["printf", "%s", "x"], env={"VAR": f"$(touch {victim})"}, cwd="/tmp")
    assert result.ok
    assert not victim.exists()


def test_cli_refuses_metacharacters_and_runs_nothing(home: Path, tmp_path: Path) -> None:
    victim = tmp_path / "pwned"
    for args in (
        ["allocation", "create", f"a;touch {victim}", "--resource", "local"],
        ["allocation", "create", "a", "--resource", "local", "--login", f"bob$(touch {victim})"],
        ["resource", "add", "lab", "--host", f"h;touch {victim}", "--batch", "slurm"],
        ["resource", "add", "lab", "--host", "h", "--batch", "slurm", "--partition", f"debug`touch {victim}`"],
    ):
        result = subprocess.run([sys.executable, "-m", "vc3tui", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result
        assert result.stderr.startswith("vc3tui: ") and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not victim.exists()


async def test_uploads_only_when_the_content_changed(site, new_engine: Callable[..., Engine]) -> None:
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    await engine.access.install_key(allocation)
    executor = engine.access.executor(allocation)
    folder = f"{site.home}/.vc3tui/builder"
    first, second = (staged_path(text, folder, "vc3_builder.py") for text in (b"print('v1')\n", b"print('v2')\n"))
    await stage_files(executor, [(b"print('v1')\n", first)])
    mtime = os.stat(first).st_mtime_ns
    await stage_files(executor, [(b"print('v1')\n", first)])
    assert os.stat(first).st_mtime_ns == mtime, "content already there is not uploaded again"
    await stage_files(executor, [(b"print('v2')\n", second)])
    assert second != first and Path(first).read_text() == "print('v1')\n" and Path(second).read_text() == "print('v2')\n"
    assert not [p for p in Path(folder).iterdir() if ".tmp-" in p.name]
    assert (await executor.get(second)) == b"print('v2')\n"


async def test_put_writes_any_bytes_whole_with_its_mode_or_says_why_not(site, new_engine: Callable[..., Engine]) -> None:
    site.write_user_file(".bashrc", 'echo "Welcome to the cluster!"\n', 0o644)  # a banner is not content
    engine, answers, allocation, _ = await engine_with(new_engine, site)
    folder = Path(tempfile.mkdtemp(prefix="put test $(touch x) ", dir=site.home))
    try:
        await engine.access.install_key(allocation)
        executor = engine.access.executor(allocation)
        shutil.chown(folder, USER)
        secret, binary = folder / "secret; rm -rf ~", folder / "blob"
        await executor.put(b"s3cret\n", str(secret), mode=0o600)
        data = bytes(range(256)) * 3 + b"\xff\xfe\x00"  # not UTF-8, with NULs
        await executor.put(data, str(binary), mode=0o755)
        await executor.put(b"", str(folder / "empty"))
        assert secret.read_bytes() == b"s3cret\n" and secret.stat().st_mode & 0o777 == 0o600
        assert binary.read_bytes() == data and binary.stat().st_mode & 0o777 == 0o755
        assert (folder / "empty").read_bytes() == b"" and (folder / "empty").stat().st_mode & 0o777 == 0o644
        assert sorted(p.name for p in folder.iterdir()) == sorted(["secret; rm -rf ~", "blob", "empty"]), "no temporaries left"
        assert (await executor.get(str(binary))) == data
        with pytest.raises(OSError, match="cannot write .*/nowhere/file"):
            await executor.put(b"x", f"{folder}/nowhere/file")
    finally:
        shutil.rmtree(folder)


# bad input: each fails at its own stage with a reason and a fix, and the allocation keeps its report

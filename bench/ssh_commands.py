"""Commands per second on one kept SSH connection versus one `ssh` process per command.

Starts the test bed's real OpenSSH sshd on loopback (tests/testbed/sshd.py, needs root), installs
a key for its test user, then runs the same short command N times: through vc3tui's SSH executor
(one kept asyncssh connection; sequential, and 4 at once within its channel bound), and through
one `ssh` process per command, as per-command tools do. Target: kept connection over 30x faster.

    .venv/bin/python bench/ssh_commands.py [-n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import note, record  # noqa: E402
from tests.testbed.sshd import USER, SSHTestBed, usable  # noqa: E402
from vc3tui.engine.executors.ssh import SSHExecutor, SSHTarget  # noqa: E402
from vc3tui.engine.hostkeys import HostKeys  # noqa: E402
from vc3tui.engine.keys import create_key  # noqa: E402
from vc3tui.engine.questions import QuestionChannel  # noqa: E402


async def kept_connection(bed: SSHTestBed, key: Path, known: Path, fingerprint: str, n: int, concurrent: int) -> float:
    target = SSHTarget(host="127.0.0.1", port=bed.port, login=USER, key_path=key, accept_host_key=fingerprint)
    executor = SSHExecutor(target, HostKeys(known, Path("/dev/null")), QuestionChannel(interactive=False))
    await executor.run(["true"])
    gate = asyncio.Semaphore(concurrent)

    async def one(i: int) -> None:
        async with gate:
            result = await executor.run(["echo", str(i)])
            assert result.stdout == f"{i}\n"

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await executor.close()
    return elapsed


def process_per_command(bed: SSHTestBed, key: Path, known: Path, n: int) -> float:
    argv = [
        "ssh", "-i", str(key), "-p", str(bed.port), "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
        "-o", "StrictHostKeyChecking=yes", f"{USER}@127.0.0.1",
    ]  # fmt: skip
    started = time.perf_counter()
    for i in range(n):
        out = subprocess.run([*argv, "echo", str(i)], capture_output=True, text=True, check=True).stdout
        assert out == f"{i}\n"
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="commands per method")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method")
    args = parser.parse_args()
    reason = usable()
    if reason:
        note(f"SSH benchmark skipped: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="vc3tui-bench-ssh-") as tmp:
        bed = SSHTestBed(Path(tmp) / "bed").start()
        try:
            pair = create_key(Path(tmp), "bench", "127.0.0.1")
            bed.write_user_file(".ssh/authorized_keys", pair.public_line + "\n")
            known = Path(tmp) / "known_hosts"
            host_key = (bed.root / "host_ed25519.pub").read_text().split()
            known.write_text(f"[127.0.0.1]:{bed.port} {host_key[0]} {host_key[1]}\n")
            import asyncssh

            fingerprint = asyncssh.import_public_key(" ".join(host_key[:2])).get_fingerprint("sha256")
            per_process_n = max(20, args.n // 4)
            sequential, parallel, per_process = [], [], []
            for _ in range(args.repeats):
                sequential.append(args.n / asyncio.run(kept_connection(bed, pair.private, known, fingerprint, args.n, 1)))
                parallel.append(args.n / asyncio.run(kept_connection(bed, pair.private, known, fingerprint, args.n, 4)))
                per_process.append(per_process_n / process_per_command(bed, pair.private, known, per_process_n))
        finally:
            bed.stop()
    print(f"{args.n} x `echo` on the test bed's sshd (127.0.0.1), {args.repeats} runs each; baseline {per_process_n} commands")
    baseline = statistics.median(per_process)
    record("SSH commands, kept connection, sequential", sequential, "one ssh process per command", per_process, unit="commands/s",
           target="ratio > 30x", met=statistics.median(sequential) / baseline > 30)  # fmt: skip
    record("SSH commands, kept connection, 4 channels", parallel, "one ssh process per command", per_process, unit="commands/s",
           target="ratio > 30x", met=statistics.median(parallel) / baseline > 30)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

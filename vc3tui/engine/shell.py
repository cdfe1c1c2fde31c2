"""Shell text, in one place: every command that passes through a shell is built here, each word
quoted (shlex.quote), so no value, however it came in, is read by a shell as code.

Used by the executors (running, detaching, writing files) and by the batch systems and the pilot
protocol (environment and directory wrappers, signalling process groups).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence


def with_env(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """`exec env NAME=VALUE ... ARGV` for a remote shell, every word quoted."""
    return f"exec env {' '.join(shlex.quote(f'{k}={v}') for k, v in env.items())} {shlex.join(argv)}"


def in_dir(cwd: str, command: str) -> str:
    return f"cd {shlex.quote(cwd)} && {command}"


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """`[cd CWD && ][env NAME=VALUE ... ]ARGV`: one argv run by a remote shell."""
    command = shlex.join(argv)
    if env:
        command = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + command
    return in_dir(cwd, command) if cwd else command


def kill_groups_script(signal_name: str, pgids: Sequence[int]) -> str:
    """Signal whole process groups with the shell's own kill (`kill -TERM -PGID`), the one form
    that dash, bash and busybox agree on; procps' /bin/kill reads it differently."""
    targets = " ".join(f"-{int(pgid)}" for pgid in pgids)
    return f"kill -{signal_name} {targets} 2>/dev/null; exit 0\n"


# Started as `python3 -c DETACH LOG CWD PIDFILE ARGV...`: forks a session leader that outlives its
# starter, holds no pipe or channel of ours, and whose pid is also its process group (one kill stops
# all). The pid file is written before the starter returns, so a crash just after can't orphan it.
DETACH = """\
import os, sys
log, cwd, pidfile, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
pid = os.fork()
if pid:
    if pidfile:
        with open(pidfile + ".tmp", "w") as out:
            out.write("%d\\n" % pid)
        os.rename(pidfile + ".tmp", pidfile)
    print(pid)
    sys.exit(0)
os.setsid()
out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
os.dup2(out, 1)
os.dup2(out, 2)
if cwd:
    os.chdir(cwd)
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    os.write(2, ("cannot start %s: %s\\n" % (argv[0], exc.strerror)).encode())
    os._exit(127)
"""

PUT = 'umask 077; t="$1.tmp-$$"; cat > "$t" && chmod "$2" "$t" && mv -f "$t" "$1" && exit 0; rm -f "$t"; exit 1'
"""`sh -c PUT sh PATH MODE` with the content on stdin: SSHExecutor.put."""

# Run by `sh -c START sh PIDFILE CWD ARGV...` as the started process itself, before its command: its
# pid (also its group's and its session's) to PIDFILE, by rename, so the file is there whatever
# becomes of us once it started; then CWD; then the command, in the same process.
START = 'p=$1 d=$2; shift 2; { [ -z "$p" ] || { echo $$ > "$p.tmp" && mv -f "$p.tmp" "$p"; }; } && { [ -z "$d" ] || cd "$d"; } && exec "$@"'

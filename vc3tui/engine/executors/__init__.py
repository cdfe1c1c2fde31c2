"""Executors run commands where an allocation lives: `local` (this machine) or `ssh` (a login node)."""

from __future__ import annotations

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

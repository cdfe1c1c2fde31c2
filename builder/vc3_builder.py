#!/usr/bin/env python3
"""vc3-builder: put a software environment on a worker without admin rights, then run a command in it.

One file, standard library only, Python 3.6 or newer: it is copied to sites that have nothing else.
This cut provides `--require python[:MIN[:MAX]]` (the system's own Python) and pip requirements
installed into a virtual environment cached by requirement set, so the pilots of one machine or
shared filesystem build each set once and every later start only activates it.

    vc3_builder.py --install ROOT --pip 'dask[distributed]' -- dask worker tcp://...
"""

import argparse
import errno
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time

KNOWN_REQUIREMENTS = ("python",)
DONE_MARKER = ".vc3-done"


class BuilderError(Exception):
    """Something the site cannot provide; the message says what and why."""


def parse_version(text):
    """'3.11.2' -> (3, 11, 2); a version that is not dotted numbers is an error."""
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise BuilderError("'{}' is not a version; write it as numbers with dots, e.g. 3.8".format(text))


def parse_requirement(text):
    """NAME[:MIN[:MAX]] -> (name, min tuple or None, max tuple or None)."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise BuilderError("'{}' is not a requirement; write NAME[:MIN[:MAX]], e.g. python:3.8".format(text))
    low = parse_version(parts[1]) if len(parts) > 1 and parts[1] else None
    high = parse_version(parts[2]) if len(parts) > 2 and parts[2] else None
    return parts[0], low, high


def check_python(low, high):
    """The system Python is the one running us; say plainly when it is outside the range."""
    have = sys.version_info[:3]
    if low and have < low:
        raise BuilderError(
            "python {} is older than the required {}; load a newer one (e.g. `module load python3`)".format(
                ".".join(map(str, have)), ".".join(map(str, low))
            )
        )
    if high and have[: len(high)] > high:
        raise BuilderError(
            "python {} is newer than the allowed {}".format(".".join(map(str, have)), ".".join(map(str, high)))
        )
    log("Success: python {} from {}".format(".".join(map(str, have)), sys.executable))


def environment_key(pip_specs):
    """Same requirement set and interpreter -> same venv, whatever order they were given in."""
    identity = "\n".join(["python " + ".".join(map(str, sys.version_info[:2])), sys.executable] + sorted(pip_specs))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def log(message):
    sys.stderr.write("vc3-builder: {}\n".format(message))
    sys.stderr.flush()


def build_venv(root, pip_specs):
    """The venv for this requirement set, built once under a lock; returns its directory.

    Built in place (venvs cannot be moved: their scripts name their own path); the done marker,
    written last, is what says it is complete, so a half-built one is removed and rebuilt.
    """
    venvs = os.path.join(root, "venvs")
    makedirs(venvs)
    target = os.path.join(venvs, environment_key(pip_specs))
    if os.path.exists(os.path.join(target, DONE_MARKER)):
        return target
    with open(target + ".lock", "a") as lock:
        log("Plan: waiting for the lock on {}".format(target))
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(target, DONE_MARKER)):
            return target
        shutil.rmtree(target, ignore_errors=True)
        build_log = target + ".log"
        log("Try: pip {} into {} (log: {})".format(" ".join(pip_specs), target, build_log))
        started = time.time()
        with open(build_log, "w") as out:
            run_logged([sys.executable, "-m", "venv", target], out, build_log)
            if pip_specs:
                pip = [os.path.join(target, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check"]
                run_logged(pip + list(pip_specs), out, build_log)
        with open(os.path.join(target, DONE_MARKER), "w") as done:
            done.write("\n".join(pip_specs) + "\n")
        log("Success: environment ready in {:.1f} s".format(time.time() - started))
    return target


def run_logged(argv, out, build_log):
    code = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise BuilderError("{} exited {}; see {}".format(" ".join(argv[:4]), code, build_log))


def makedirs(path):
    try:
        os.makedirs(path, 0o755)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise


def environment_for(venv, variables):
    env = dict(os.environ)
    if venv:
        env["VIRTUAL_ENV"] = venv
        env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
        env.pop("PYTHONHOME", None)
    env.update(variables)
    return env


def write_env(path, env, names):
    """The environment as sh exports, so a pilot activates it with `.` and no second interpreter."""
    with open(path, "w") as out:
        if "VIRTUAL_ENV" in names:
            out.write("unset PYTHONHOME\n")
        for name in sorted(names):
            out.write("export {}={}\n".format(name, shell_quote(env[name])))


def shell_quote(value):
    return "'" + value.replace("'", "'\"'\"'") + "'"


def parse_args(argv):
    command = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="vc3-builder", description=__doc__.splitlines()[0])
    parser.add_argument("--require", action="append", default=[], metavar="NAME[:MIN[:MAX]]")
    parser.add_argument("--pip", action="append", default=[], metavar="SPEC", help="a pip requirement")
    parser.add_argument("--install", metavar="ROOT", default=os.environ.get("VC3_BUILDER_ROOT") or os.path.expanduser("~/.vc3-builder"))
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--env-to", metavar="FILE", help="write the environment as sh exports and exit")
    args = parser.parse_args(argv)
    return args, command


def main(argv=None):
    args, command = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        variables = {}
        for item in args.var:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise BuilderError("--var '{}' is not NAME=VALUE".format(item))
            variables[name] = value
        for text in args.require:
            name, low, high = parse_requirement(text)
            if name not in KNOWN_REQUIREMENTS:
                raise BuilderError("could not add {}: no recipe (known: {})".format(name, ", ".join(KNOWN_REQUIREMENTS)))
            log("Plan: {}".format(text))
            check_python(low, high)
        venv = build_venv(os.path.abspath(args.install), args.pip) if args.pip else None
    except BuilderError as exc:
        log("error: {}".format(exc))
        return 1
    env = environment_for(venv, variables)
    if args.env_to:
        # VC3_PYTHON: the interpreter found for the builder, for the pilot's own stdlib helpers
        env["VC3_PYTHON"] = sys.executable
        write_env(args.env_to, env, (["VIRTUAL_ENV", "PATH"] if venv else []) + list(variables) + ["VC3_PYTHON"])
        return 0
    if not command:
        command = [os.environ.get("SHELL", "/bin/sh")]
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        log("error: cannot run {}: {}".format(command[0], exc.strerror))
        return 127


if __name__ == "__main__":
    sys.exit(main())

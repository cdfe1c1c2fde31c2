#!/usr/bin/env python3
"""vc3-builder: put a software stack on a worker without admin rights, then run a command in it.

One file, standard library only, Python 3.6 or newer: it is copied to sites that have nothing
else. Recipes (vc3-recipes.json beside this file, ROOT/recipes.d, then any --database) say where
each package can come from: the system (detected, with its version), a source tarball built with
configure/make or cmake, pip into a venv, or a prebuilt binary. The plan backtracks over versions
and alternatives; installs live in ROOT/<arch>/<os><version>/<package>/<version>, each with a
done-marker holding its recipe's checksum, built once under a lock that many pilots on one shared
filesystem respect.

    vc3_builder.py --require cctools --require python:3.8 -- work_queue_worker HOST PORT
    vc3_builder.py --install ROOT --pip 'dask[distributed]' --env-to env.sh
"""

import argparse
import errno
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPES = os.path.join(HERE, "vc3-recipes.json")
BOOTSTRAP = os.path.join(HERE, "vc3-builder")
DONE_MARKER = ".vc3-done"
STALE_LOCK_SECONDS = float(os.environ.get("VC3_BUILDER_STALE_LOCK", "60"))
"""A lock whose holder has not refreshed it for this long is taken over (the holder died)."""
RETRY_BACKOFF = float(os.environ.get("VC3_BUILDER_BACKOFF", "1"))
"""Seconds before the first retry of a failed download; doubled for each later one."""
RETRIES = 3
MAX_PLAN_STEPS = 100000
"""Candidates tried before a plan is given up on (a pathological recipe set must not hang a pilot)."""
DEFAULT_MAKE_JOBS = 4
CONTAINER_RUNTIMES = ("apptainer", "singularity")


class BuilderError(Exception):
    """Something the site cannot provide, or bad input; the message says what and what to do."""


QUIET = False
"""--silent: only errors are printed."""
LOG = sys.stderr
"""Where the plan and build lines go: stderr, or the file --log names (errors go to stderr too)."""


def log(message):
    if not QUIET:
        LOG.write(message + "\n")
        LOG.flush()


def error(message):
    for stream in {sys.stderr, LOG}:
        stream.write("vc3-builder: error: {}\n".format(message))
        stream.flush()


# --- versions and requirements -------------------------------------------------------------


def parse_version(text):
    """'v2.7.12' -> ((0, 2), (0, 7), (0, 12)); numbers sort before words ('1.0' < '1.0rc')."""
    text = text.strip()
    if text[:1] == "v" and text[1:2].isdigit():
        text = text[1:]
    parts = re.split(r"[.\-_+]", text)
    if not parts[0].isdigit() or any(not re.match(r"^[A-Za-z0-9]+$", part) for part in parts):
        raise BuilderError("{!r} is not a version; write it as numbers with dots, e.g. 3.8".format(text))
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def in_range(version, low, high):
    """MIN inclusive; MAX inclusive at its own precision, so python:3:3.11 takes 3.11.9."""
    return (low is None or version >= low) and (high is None or version[: len(high)] <= high)


class Requirement(object):
    """NAME[:MIN[:MAX]], and who asked for it (the chain shown when it cannot be met)."""

    __slots__ = ("name", "low", "high", "text", "chain")

    def __init__(self, name, low=None, high=None, text=None, chain=()):
        self.name, self.low, self.high = name, low, high
        self.text = text or name
        self.chain = chain

    @classmethod
    def parse(cls, text, chain=()):
        parts = text.split(":")
        if len(parts) > 3 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", parts[0]):
            raise BuilderError("{!r} is not a requirement; write NAME[:MIN[:MAX]], e.g. python:3.8".format(text))
        low = parse_version(parts[1]) if len(parts) > 1 and parts[1] else None
        high = parse_version(parts[2]) if len(parts) > 2 and parts[2] else None
        return cls(parts[0], low, high, text, chain)

    def accepts(self, candidate):
        return in_range(candidate.key, self.low, self.high)

    def who(self):
        """'python:2.7 (for myapp 1.0 <- the command line)'."""
        return "{} (for {})".format(self.text, " <- ".join(reversed(self.chain)) if self.chain else "the command line")


# --- the recipe database ------------------------------------------------------------------------

SOURCE_TYPES = ("system", "tarball", "binary", "pip", "wrapper")


class Database(object):
    """Packages, mirrors and container images from one or more JSON files; later files win."""

    def __init__(self):
        self.packages = {}
        self.mirrors = []
        self.images = {}

    def load(self, path):
        paths = [path]
        if os.path.isdir(path):
            paths = sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(".json"))
        for each in paths:
            try:
                with open(each) as handle:
                    data = json.load(handle)
            except (OSError, ValueError) as exc:
                raise BuilderError("{}: cannot read recipes: {}".format(each, exc))
            self._merge(each, data)

    def _merge(self, path, data):
        if not isinstance(data, dict) or not isinstance(data.get("packages", {}), dict):
            raise BuilderError("{}: recipes must be a JSON object with 'packages'".format(path))
        mirrors, systems = data.get("mirrors", []), data.get("operating-systems", {})
        if not isinstance(mirrors, list) or not all(isinstance(m, str) for m in mirrors):
            raise BuilderError("{}: 'mirrors' must be a list of URLs".format(path))
        if not isinstance(systems, dict) or not all(isinstance(v, dict) for v in systems.values()):
            raise BuilderError("{}: 'operating-systems' must be an object {{DIST: {{VERSION: IMAGE}}}}".format(path))
        self.mirrors = mirrors + self.mirrors
        for dist, versions in systems.items():
            self.images.setdefault(dist, {}).update(versions)
        for name, package in data.get("packages", {}).items():
            check_package(path, name, package)
            self.packages[name] = package


def check_package(path, name, package):
    """A recipe the builder cannot follow is refused when loaded, naming the file and the field."""
    where = "{}: package {!r}".format(path, name)
    if not isinstance(package, dict) or not isinstance(package.get("versions"), list) or not package["versions"]:
        raise BuilderError("{}: needs a non-empty 'versions' list".format(where))
    if not isinstance(package.get("environment", []), list):
        raise BuilderError("{}: 'environment' must be a list of {{name, set|prepend|append}}".format(where))
    for setting in package.get("environment", []):
        if not isinstance(setting, dict) or not setting.get("name") or not any(k in setting for k in ("set", "prepend", "append")):
            raise BuilderError("{}: each 'environment' entry needs 'name' and one of set, prepend, append".format(where))
    for number, entry in enumerate(package["versions"], 1):
        here = "{} version #{}".format(where, number)
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), dict):
            raise BuilderError("{}: needs a 'source' object".format(here))
        kind = entry["source"].get("type")
        if kind not in SOURCE_TYPES:
            raise BuilderError("{}: source type {!r} is not one of {}".format(here, kind, ", ".join(SOURCE_TYPES)))
        if not isinstance(entry.get("version", "auto"), str):
            raise BuilderError("{}: 'version' must be a string such as \"3.8\" or \"auto\"".format(here))
        if entry.get("version", "auto") != "auto":
            try:
                parse_version(entry["version"])
            except BuilderError as exc:
                raise BuilderError("{}: {}".format(here, exc))
        dependencies = entry.get("dependencies", {})
        if not isinstance(dependencies, dict):
            raise BuilderError("{}: 'dependencies' must be an object {{NAME: [MIN, MAX]}}".format(here))
        for dep, bounds in dependencies.items():
            if not isinstance(bounds, list) or len(bounds) > 2 or not all(isinstance(b, str) for b in bounds):
                raise BuilderError("{}: dependency {!r} must be a list [MIN, MAX] of version strings".format(here, dep))
            for bound in bounds:
                if bound:
                    parse_version(bound)
        if kind in ("system", "wrapper") and not (entry["source"].get("executables") or entry["source"].get("paths")):
            raise BuilderError("{}: a {} source needs 'executables' (or 'paths')".format(here, kind))
        for field in ("files", "executables", "paths"):
            if not isinstance(entry["source"].get(field, []), list):
                raise BuilderError("{}: source '{}' must be a list".format(here, field))
        if kind in ("tarball", "binary"):
            for item in entry["source"].get("files", []):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not re.match(r"^[0-9a-f]{64}$", str(item.get("sha256", ""))):
                    raise BuilderError("{}: every file needs a 'name' and a 64-hex 'sha256'".format(here))
            if not entry["source"].get("files"):
                raise BuilderError("{}: a {} source needs 'files'".format(here, kind))
        if "relocate" in entry["source"]:
            spec = entry["source"]["relocate"]
            if kind != "binary" or not isinstance(spec, dict) or not str(spec.get("placeholder", "")).startswith("/") \
                    or not isinstance(spec.get("loader"), str) or not isinstance(spec.get("dirs"), list):
                raise BuilderError("{}: 'relocate' (binary sources only) needs 'placeholder' (an absolute path), 'loader' and 'dirs'".format(here))


# --- this host ----------------------------------------------------------------------------------


def os_release():
    """(id, version, ids it is like) of this host, e.g. ('rocky', '9.3', ['rhel', 'centos', 'fedora'])."""
    fields = {}
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    fields[key] = value.strip().strip('"')
    except OSError:
        pass
    return fields.get("ID", "unknown"), fields.get("VERSION_ID", "0"), fields.get("ID_LIKE", "").split()


def platform_dir(root):
    """ROOT/<arch>/<os><version>: builds for one platform never mix with another's."""
    dist, version, _ = os_release()
    return os.path.join(root, platform.machine() or "unknown", dist + version)


class SystemProbe(object):
    """Versions of system tools, remembered by path, size and mtime so a warm start runs none."""

    def __init__(self, cache_path):
        self.cache_path = cache_path
        self.changed = False
        try:
            with open(cache_path) as handle:
                self.cache = json.load(handle)
        except (OSError, ValueError):
            self.cache = {}

    def version(self, executable, source):
        """The version `executable` reports, or None with the reason."""
        if executable == sys.executable:
            return "{}.{}.{}".format(*sys.version_info[:3]), None
        try:
            st = os.stat(executable)
        except OSError as exc:
            return None, str(exc)
        args = source.get("version-args", ["--version"])
        key = "{}|{}|{}|{}".format(executable, st.st_size, int(st.st_mtime), " ".join(args))
        if key in self.cache:
            return self.cache[key], None
        try:
            proc = subprocess.Popen([executable] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            output = proc.communicate(timeout=20)[0]
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, "{} {} failed: {}".format(executable, " ".join(args), exc)
        match = re.search(source.get("version-regex", r"(\d+(?:\.\d+)+)"), output)
        if proc.returncode != 0 and "version-regex" not in source:
            return None, "{} {} exited {}".format(executable, " ".join(args), proc.returncode)
        if not match:
            return None, "{} {} printed no version".format(executable, " ".join(args))
        self.cache[key] = match.group(1)
        self.changed = True
        return match.group(1), None

    def save(self):
        if not self.changed:
            return
        try:
            makedirs(os.path.dirname(self.cache_path))
            temporary = "{}.{}".format(self.cache_path, os.getpid())
            with open(temporary, "w") as handle:
                json.dump(self.cache, handle)
            os.rename(temporary, self.cache_path)
        except OSError:
            pass


# --- candidates and the plan ------------------------------------------------------------------------


class Candidate(object):
    """One way to provide a package: a version from one source, with its dependencies."""

    def __init__(self, package, version, entry, origin, prefix=None, executable=None):
        self.package = package
        self.version = version
        self.key = parse_version(version)
        self.entry = entry
        self.source = entry["source"]
        self.origin = origin
        self.prefix = prefix
        self.executable = executable
        self.checksum = None

    @property
    def on_system(self):
        return self.origin in ("system", "sys", "wrapper")

    def dependencies(self, chain):
        out = []
        for name, bounds in sorted(self.entry.get("dependencies", {}).items()):
            low = parse_version(bounds[0]) if len(bounds) > 0 and bounds[0] else None
            high = parse_version(bounds[1]) if len(bounds) > 1 and bounds[1] else None
            text = ":".join([name] + [b for b in bounds[:2]]).rstrip(":")
            out.append(Requirement(name, low, high, text, chain + ("{} {}".format(self.package, self.version),)))
        return out

    @property
    def title(self):
        """The name a person knows it by: a pip set (pip-<digest>) is its requirements."""
        if self.package.startswith("pip-") and self.origin == "pip":
            return " ".join(self.source["packages"])
        return self.package

    @property
    def label(self):
        """What a build line says it builds, e.g. `hello 2.10 (tarball)`, `numpy scipy (pip)`."""
        if self.title != self.package:
            return "{} ({})".format(self.title, self.origin)
        return "{} {} ({})".format(self.package, self.version, self.origin)

    def describe(self):
        where = self.executable or self.prefix
        return "{} {} ({}{})".format(self.package, self.version, self.origin, ", " + where if where and self.on_system else "")


class Planner(object):
    """Chooses one candidate per package so every requirement holds, backtracking on conflicts,
    and logs the search the way the original vc3-builder did: Plan / Try / Success / could not add."""

    def __init__(self, database, probe, sys_overrides, no_sys, pins, quiet=False):
        self.database = database
        self.probe = probe
        self.sys_overrides = sys_overrides
        self.no_sys = no_sys
        self.pins = pins
        self.quiet = quiet
        self._candidates = {}
        self.failures = {}
        self.steps = 0

    def say(self, depth, word, text):
        if not self.quiet:
            log("{:<9}{}{}".format(word, "  " * depth, text))

    def candidates(self, name):
        """System ones first (nothing to build), then recipes newest first; pins restrict them.
        Produced lazily: a system tool is only asked its version when the search reaches it."""
        if name not in self._candidates:
            self._candidates[name] = Lazy(self._generate(name))
        return self._candidates[name]

    def _generate(self, name):
        package = self.database.packages.get(name)
        entries = package["versions"] if package else []
        pinned = self.pins.get(name)
        reasons = self.failures.setdefault(name, [])
        if name in self.sys_overrides:
            version, prefix = self.sys_overrides[name]
            yield Candidate(name, version, {"source": {"type": "system"}, "version": version}, "sys", prefix=prefix)
        elif "ALL" not in self.no_sys and name not in self.no_sys:
            for entry in entries:
                if entry["source"]["type"] in ("system", "wrapper"):
                    for candidate in self._detect(name, entry, reasons):
                        if pinned in (None, candidate.version):
                            yield candidate
        built = [Candidate(name, e["version"], e, e["source"]["type"]) for e in entries if e["source"]["type"] not in ("system", "wrapper")]
        for candidate in sorted(built, key=lambda c: c.key, reverse=True):
            if pinned in (None, candidate.version):
                yield candidate

    def _detect(self, name, entry, reasons):
        source = entry["source"]
        if "paths" in source:
            present = [path for path in source["paths"] if os.path.exists(path)]
            if present:
                yield Candidate(name, entry.get("version", "1"), entry, "system", prefix=present[0])
            else:
                reasons.append("none of {} is on this host".format(", ".join(source["paths"])))
            return
        seen, versions = set(), set()
        for program in source.get("executables", []):
            path = sys.executable if program == "@builder-python" else shutil.which(program)
            if not path:
                reasons.append("no {} on PATH".format(program))
                continue
            if os.path.realpath(path) in seen:
                continue
            seen.add(os.path.realpath(path))
            version = entry.get("version", "auto")
            if version == "auto":
                version, why = self.probe.version(path, source)
                if version is None:
                    reasons.append(why)
                    continue
            if version in versions:  # the same interpreter under another name
                continue
            versions.add(version)
            prefix = os.path.dirname(os.path.dirname(path))
            yield Candidate(name, version, entry, source["type"], prefix=prefix, executable=path)

    def solve(self, requirements):
        """{name: Candidate} meeting every requirement, or None (self.failures says why)."""
        return self._solve(list(requirements), {}, 0)

    def _solve(self, agenda, chosen, depth):
        if not agenda:
            return chosen
        requirement, rest = agenda[0], agenda[1:]
        have = chosen.get(requirement.name)
        if have is not None:
            if requirement.accepts(have):
                return self._solve(rest, chosen, depth)
            self._fail(requirement, "{} {} is already chosen".format(have.package, have.version))
            self.say(depth, "Fail:", "{} conflicts with {} {}".format(requirement.who(), have.package, have.version))
            return None
        if requirement.name not in self.database.packages and requirement.name not in self.sys_overrides:
            self._fail(requirement, "no recipe (see --list)")
            self.say(depth, "Fail:", "could not add {}: no recipe".format(requirement.who()))
            return None
        self.say(depth, "Plan:", "{} => [{}, {}]".format(requirement.name, show(requirement.low), show(requirement.high)))
        tried = False
        for candidate in self.candidates(requirement.name):
            if not requirement.accepts(candidate):
                continue
            tried = True
            self.steps += 1
            if self.steps > MAX_PLAN_STEPS:
                raise BuilderError("no plan after trying {} candidates; fix versions with --pin NAME=VERSION".format(MAX_PLAN_STEPS))
            self.say(depth, "Try:", candidate.describe())
            with_it = dict(chosen)
            with_it[requirement.name] = candidate
            solved = self._solve(candidate.dependencies(requirement.chain) + rest, with_it, depth + 1)
            if solved is not None:
                self.say(depth, "Success:", "{} {} => {}".format(candidate.package, candidate.version, requirement.text))
                return solved
            self.say(depth, "Fail:", "could not add {} {}".format(candidate.package, candidate.version))
        if not tried:
            have = [c.version + (" (system)" if c.on_system else "") for c in self.candidates(requirement.name)]
            why = "available: {}".format(", ".join(have)) if have else "nothing available"
            extra = [] if have else self.failures.get(requirement.name, [])
            hint = self.database.packages.get(requirement.name, {}).get("hint")
            self._fail(requirement, "; ".join([why] + extra + ([hint] if hint else [])))
            self.say(depth, "Fail:", "could not add {}: {}".format(requirement.who(), why))
        return None

    def _fail(self, requirement, reason):
        self.failures["@last"] = "could not add {}: {}".format(requirement.who(), reason)


class Lazy(object):
    """A list filled from a generator as far as it is read, and kept for the next reader."""

    def __init__(self, source):
        self._source = source
        self._items = []

    def __iter__(self):
        index = 0
        while True:
            if index == len(self._items):
                try:
                    self._items.append(next(self._source))
                except StopIteration:
                    return
            yield self._items[index]
            index += 1


def show(version):
    return ".".join(str(part[1]) for part in version) if version else ""


def install_order(chosen):
    """Dependencies before the packages that need them."""
    order, seen = [], set()

    def visit(candidate):
        if candidate.package in seen:
            return
        seen.add(candidate.package)
        for requirement in candidate.dependencies(()):
            visit(chosen[requirement.name])
        order.append(candidate)

    for name in sorted(chosen):
        visit(chosen[name])
    return order


def checksum(candidate, chosen, package_env):
    """What a build depends on: its recipe, its package's environment, and its dependencies' own
    checksums (or system version and location), so changing any of them rebuilds it."""
    deps = {}
    for requirement in candidate.dependencies(()):
        dep = chosen[requirement.name]
        deps[dep.package] = dep.checksum if not dep.on_system else [dep.version, dep.executable or dep.prefix]
    text = json.dumps({"recipe": candidate.entry, "environment": package_env, "dependencies": deps}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- locks shared by many pilots ------------------------------------------------------------------


class PackageLock(object):
    """An exclusive lock file on a shared filesystem, safe across hosts where pids mean nothing:
    its holder refreshes its mtime (a heartbeat) while it builds; a lock whose heartbeat is older
    than STALE_LOCK_SECONDS belonged to a builder that died, and is taken over."""

    def __init__(self, path, what):
        self.path = path
        self.what = what
        self.token = "{} {} {}".format(platform.node(), os.getpid(), time.time())
        self._stop = None

    def __enter__(self):
        announced = False
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise BuilderError("cannot create lock {}: {}".format(self.path, exc.strerror))
                if not announced:
                    log("Wait:    {} is being built by {} (lock {})".format(self.what, read_text(self.path).strip() or "another builder", self.path))
                    announced = True
                self._take_over_if_stale()
                time.sleep(min(1.0, STALE_LOCK_SECONDS / 10))
                continue
            os.write(fd, self.token.encode("utf-8"))
            os.close(fd)
            self._start_heartbeat()
            return self

    def _take_over_if_stale(self):
        try:
            age = time.time() - os.stat(self.path).st_mtime
        except OSError:
            return
        if age <= STALE_LOCK_SECONDS:
            return
        tomb = "{}.stale.{}.{}".format(self.path, platform.node(), os.getpid())
        try:
            os.rename(self.path, tomb)
        except OSError:
            return
        try:
            fresh = time.time() - os.stat(tomb).st_mtime <= STALE_LOCK_SECONDS
        except OSError:
            return
        if fresh:  # another waiter took it over between our stat and rename: give it back
            try:
                os.link(tomb, self.path)
            except OSError:
                pass
        else:
            log("Takeover: {}: its builder stopped refreshing it {:.0f} s ago".format(self.path, age))
        os.unlink(tomb)

    def _start_heartbeat(self):
        import threading

        self._stop = threading.Event()

        def beat():
            while not self._stop.wait(STALE_LOCK_SECONDS / 4):
                try:
                    os.utime(self.path, None)
                except OSError:
                    pass

        thread = threading.Thread(target=beat, name="vc3-lock-heartbeat")
        thread.daemon = True
        thread.start()

    def __exit__(self, *exc):
        self._stop.set()
        if read_text(self.path) == self.token:
            os.unlink(self.path)


def remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


# --- fetching sources ---------------------------------------------------------------------------


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(item, urls, distfiles):
    """The file in the distfiles cache, downloaded from the first mirror that serves it with the
    right sha256; network errors are retried with backoff, a wrong checksum is never accepted."""
    import urllib.error
    import urllib.request

    target = os.path.join(distfiles, item["name"])
    if os.path.exists(target):
        if sha256_of(target) == item["sha256"]:
            return target
        log("Refuse:  {} in the distfiles has the wrong sha256; fetching it again".format(target))
        os.unlink(target)
    makedirs(distfiles)
    tried = []
    for url in urls:
        for attempt in range(RETRIES):
            if attempt:
                time.sleep(RETRY_BACKOFF * 2 ** (attempt - 1))
            temporary = "{}.part.{}".format(target, os.getpid())
            log("Fetch:   {}".format(url))
            try:
                with urllib.request.urlopen(url, timeout=60) as answer, open(temporary, "wb") as out:
                    shutil.copyfileobj(answer, out)
            except urllib.error.HTTPError as exc:
                remove(temporary)
                tried.append("{}: HTTP {}".format(url, exc.code))
                if exc.code < 500:
                    break
                continue
            except (urllib.error.URLError, OSError) as exc:
                remove(temporary)
                tried.append("{}: {}".format(url, getattr(exc, "reason", exc)))
                continue
            got = sha256_of(temporary)
            if got != item["sha256"]:
                remove(temporary)
                tried.append("{}: sha256 {} is not the recipe's {}".format(url, got, item["sha256"]))
                log("Refuse:  {}: wrong sha256".format(url))
                break
            os.rename(temporary, target)
            return target
    raise BuilderError("could not fetch {}: {}".format(item["name"], "; ".join(tried) or "no mirror has it (add --repository URL)"))


def extract(archive, into):
    """Unpack a tarball (or a zip: a wheel), refusing members that would land outside `into`;
    returns the one top-level directory when there is one (the usual NAME-VERSION/), else `into`."""
    import tarfile

    base = os.path.realpath(into)
    if archive.endswith((".whl", ".zip")):
        extract_zip(archive, base)
    else:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                where = os.path.realpath(os.path.join(base, member.name))
                if not (where == base or where.startswith(base + os.sep)) or member.isdev():
                    raise BuilderError("{}: member {!r} would be written outside the build dir".format(archive, member.name))
                if (member.issym() or member.islnk()) and os.path.isabs(member.linkname):
                    raise BuilderError("{}: member {!r} links to an absolute path".format(archive, member.name))
            if hasattr(tarfile, "data_filter"):
                tar.extractall(base, filter="data")  # novermin (checked above for older pythons)
            else:
                tar.extractall(base)
    entries = os.listdir(base)
    if len(entries) == 1 and os.path.isdir(os.path.join(base, entries[0])):
        return os.path.join(base, entries[0])
    return base


def extract_zip(archive, base):
    """A zip's files with their Unix modes (zipfile itself drops them: a wheel's programs would
    lose their execute bits), none outside `base`."""
    import zipfile

    with zipfile.ZipFile(archive) as unzip:
        for member in unzip.infolist():
            where = os.path.realpath(os.path.join(base, member.filename))
            if not where.startswith(base + os.sep):
                raise BuilderError("{}: member {!r} would be written outside the build dir".format(archive, member.filename))
        for member in unzip.infolist():
            written = unzip.extract(member, base)
            mode = (member.external_attr >> 16) & 0o777
            if mode and not member.is_dir():
                os.chmod(written, mode)


# --- building -----------------------------------------------------------------------------------

STEPS = {
    "configure": ['./configure --prefix="$VC3_PREFIX" {options}', 'make -j"$VC3_MAKE_JOBS"', "make install"],
    "cmake": [
        'cmake -S . -B vc3-build -DCMAKE_INSTALL_PREFIX="$VC3_PREFIX" {options}',
        'cmake --build vc3-build -j "$VC3_MAKE_JOBS"',
        "cmake --install vc3-build",
    ],
    "make": ['make -j"$VC3_MAKE_JOBS" PREFIX="$VC3_PREFIX" {options}', 'make install PREFIX="$VC3_PREFIX"'],
}


PIP_WHEEL = {
    "name": "pip-25.0.1-py3-none-any.whl",
    "sha256": "c46efd13b6aa8279f33f2864459c8ce587ea6a1a59ee20de055868d8f7688f7f",
    "urls": ["https://files.pythonhosted.org/packages/c9/bc/b7db44f5f39f9d0494071bddae6880eb645970366d0a200022a1a93d57f5/pip-25.0.1-py3-none-any.whl"],
}
"""pip for a venv its python could not give one (Python 3.8+)."""


class Builder(object):
    """Installs the chosen candidates that are not built yet, each once, under its lock."""

    def __init__(self, options, database, chosen, platform_root):
        self.options = options
        self.database = database
        self.chosen = chosen
        self.platform_root = platform_root

    def prefix_of(self, candidate):
        return os.path.join(self.platform_root, candidate.package, candidate.version)

    def prepare(self):
        """Fill in each candidate's prefix and checksum; return those that still need building."""
        missing = []
        for candidate in install_order(self.chosen):
            if candidate.on_system:
                candidate.checksum = None
                continue
            candidate.prefix = self.prefix_of(candidate)
            candidate.checksum = checksum(candidate, self.chosen, self.database.packages[candidate.package].get("environment"))
            if read_text(os.path.join(candidate.prefix, DONE_MARKER)).strip() != candidate.checksum:
                missing.append(candidate)
        return missing

    def install(self, candidate, environment):
        makedirs(os.path.dirname(candidate.prefix))
        with PackageLock(candidate.prefix + ".lock", "{} {}".format(candidate.package, candidate.version)):
            if read_text(os.path.join(candidate.prefix, DONE_MARKER)).strip() == candidate.checksum:
                log("Success: {} {} was built by another builder meanwhile".format(candidate.package, candidate.version))
                return
            self._build(candidate, environment)

    def _build(self, candidate, environment):
        import tempfile

        files = [fetch(item, self.urls(item), self.options.distfiles) for item in candidate.source.get("files", [])]
        shutil.rmtree(candidate.prefix, ignore_errors=True)
        scratch_root = os.path.join(self.options.install, "builds")
        makedirs(scratch_root)
        scratch = tempfile.mkdtemp(prefix="{}-{}.".format(candidate.package, candidate.version), dir=scratch_root)
        build_log = os.path.join(scratch, "build.log")
        log("Build:   {} in {} (log: {})".format(candidate.label, scratch, build_log))
        started = time.time()
        env = dict(environment)
        env.update(VC3_PREFIX=candidate.prefix, VC3_MAKE_JOBS=str(self.options.make_jobs), VC3_BUILD=scratch)
        with open(build_log, "w") as out:
            try:
                self._steps(candidate, files, scratch, env, out)
            except BuilderError as exc:
                shutil.rmtree(candidate.prefix, ignore_errors=True)
                what = "pip install " + " ".join(candidate.source["packages"]) if candidate.origin == "pip" else "{} {}".format(candidate.package, candidate.version)
                raise BuilderError("{} failed to build: {}; log: {} (build dir kept)".format(what, last_words(build_log, exc), build_log))
        with open(os.path.join(candidate.prefix, DONE_MARKER), "w") as done:
            done.write(candidate.checksum + "\n")
        shutil.rmtree(scratch, ignore_errors=True)
        log("Success: {} built in {:.1f} s".format(candidate.label, time.time() - started))

    def _venv(self, python, prefix, scratch, env, out):
        """A venv with pip. Where the python cannot put pip in one itself (Debian's python3
        without python3-venv: no ensurepip), the venv is made without pip and pip installed from
        its wheel, fetched like any file (mirrors, checksum, the distfiles cache)."""
        try:
            run_step([python, "-m", "venv", prefix], scratch, env, out)
            return
        except BuilderError as exc:
            out.write("venv with pip failed ({}); making it without pip and adding pip from its wheel\n".format(exc))
            out.flush()
            shutil.rmtree(prefix, ignore_errors=True)
        run_step([python, "-m", "venv", "--without-pip", prefix], scratch, env, out)
        wheel = fetch(PIP_WHEEL, self.urls(PIP_WHEEL), self.options.distfiles)
        run_step([os.path.join(prefix, "bin", "python"), os.path.join(wheel, "pip"), "install", "--no-index", "--disable-pip-version-check", wheel], scratch, env, out)

    def _steps(self, candidate, files, scratch, env, out):
        source = candidate.source
        kind = source["type"]
        if kind == "pip":
            python = sys.executable
            if "python" in self.chosen:
                chosen = self.chosen["python"]
                python = chosen.executable or os.path.join(chosen.prefix, "bin", "python3")
            self._venv(python, candidate.prefix, scratch, env, out)
            pip = [os.path.join(candidate.prefix, "bin", "python"), "-m", "pip", "install", "--disable-pip-version-check"]
            run_step(pip + list(source.get("packages", [])), scratch, env, out)
            return
        if kind == "binary":
            makedirs(candidate.prefix)
            top = extract(files[0], os.path.join(scratch, "unpack"))
            for entry in os.listdir(top):
                shutil.move(os.path.join(top, entry), os.path.join(candidate.prefix, entry))
            if "relocate" in source:
                relocate(candidate.prefix, source["relocate"], out)
            return
        top = extract(files[0], os.path.join(scratch, "src"))
        for extra in files[1:]:
            shutil.copy(extra, top)
        steps = source.get("steps") or STEPS[source.get("build", "configure")]
        options = " ".join(source.get("options", []))
        makedirs(candidate.prefix)
        for step in steps:
            out.write("+ {}\n".format(step.replace("{options}", options)))
            out.flush()
            run_step(["sh", "-ec", step.replace("{options}", options)], top, env, out)

    def urls(self, item):
        """The user's --repository mirrors first (a site's own mirror is nearest), then the file's
        own URLs, then the recipe database's mirrors."""
        def at(bases):
            return [base.rstrip("/") + "/" + item["name"] for base in bases]

        return at(self.options.repository) + list(item.get("urls", [])) + at(self.database.mirrors)


def relocate(prefix, spec, out):
    """A prebuilt binary that carries its own loader (and finds its libraries by $ORIGIN): each
    program naming the placeholder as its loader is made to name the unpacked one, padded with
    NULs to the same length so nothing else in the file moves."""
    placeholder = spec["placeholder"].encode() + b"\0"
    loader = os.path.join(prefix, spec["loader"]).encode()
    if len(loader) >= len(placeholder):
        raise BuilderError("the install path is too long for a prebuilt binary ({} bytes to its loader, room for {}); "
                           "use a shorter --install".format(len(loader), len(placeholder) - 1))
    loader += b"\0" * (len(placeholder) - len(loader))
    for folder in spec["dirs"]:
        top = os.path.join(prefix, folder)
        for name in sorted(os.listdir(top)):
            path = os.path.join(top, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            if placeholder in data:
                temporary = path + ".relocating"
                with open(temporary, "wb") as handle:
                    handle.write(data.replace(placeholder, loader, 1))
                os.chmod(temporary, os.stat(path).st_mode)
                os.rename(temporary, path)
                out.write("relocated {}\n".format(path))


def last_words(build_log, failure):
    """The build's own last line of complaint (pip's ERROR:, make's Error 2), else what failed."""
    lines = [line.strip() for line in read_text(build_log).splitlines() if line.strip() and not line.startswith("exit status ")]
    return lines[-1][:300] if lines else str(failure)


def run_step(argv, cwd, env, out):
    code = subprocess.call(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        out.write("exit status {}\n".format(code))
        raise BuilderError("{} exited {}".format(" ".join(argv)[:80], code))


def makedirs(path):
    if not os.path.isdir(path):
        os.makedirs(path, 0o755, exist_ok=True)


# --- the environment ----------------------------------------------------------------------------


def expand(value, prefix):
    return value.replace("${PREFIX}", prefix or "").replace("$PREFIX", prefix or "")


def apply_environment(chosen, database, base):
    """The environment with every chosen package's variables applied, dependencies first."""
    env = dict(base)
    for candidate in install_order(chosen):
        env["VC3_ROOT_" + re.sub(r"[^A-Za-z0-9]", "_", candidate.package).upper()] = candidate.prefix or ""
        if candidate.origin in ("system", "wrapper"):
            settings = candidate.source.get("environment", [])
        else:
            settings = database.packages.get(candidate.package, {}).get("environment", [])
            if candidate.origin == "pip":
                settings = settings + [{"name": "VIRTUAL_ENV", "set": "${PREFIX}"}, {"name": "PATH", "prepend": "${PREFIX}/bin"}]
        for setting in settings:
            name = setting["name"]
            if "set" in setting:
                env[name] = expand(setting["set"], candidate.prefix)
            for how in ("prepend", "append"):
                if how in setting:
                    value = expand(setting[how], candidate.prefix)
                    parts = [p for p in env.get(name, "").split(os.pathsep) if p and p != value]
                    env[name] = os.pathsep.join([value] + parts if how == "prepend" else parts + [value])
        if candidate.origin == "pip":
            env.pop("PYTHONHOME", None)
    return env


def shell_quote(value):
    return "'" + value.replace("'", "'\"'\"'") + "'"


def env_lines(env, base):
    """The environment as sh lines, so a pilot activates it with `.` and no second interpreter. A
    list variable the packages only added to (PATH, ...) is written as those additions around the
    value it will find, so the lines fit any node, whatever its own PATH."""
    lines = ["unset {}".format(name) for name in sorted(set(base) - set(env)) if re.match(r"^[A-Za-z_]\w*$", name)]
    for name, value in sorted(env.items()):
        before = base.get(name)
        if before == value or not re.match(r"^[A-Za-z_]\w*$", name):
            continue
        if before and value.endswith(os.pathsep + before):
            added = shell_quote(value[: -len(before) - 1])
            lines.append('export {0}={1}"${{{0}:+:${0}}}"'.format(name, added))
        elif before and value.startswith(before + os.pathsep):
            lines.append('export {0}="${{{0}:+${0}:}}"{1}'.format(name, shell_quote(value[len(before) + 1 :])))
        else:
            lines.append("export {}={}".format(name, shell_quote(value)))
    return "\n".join(lines) + "\n"


def write_file(path, text):
    """Whole or not at all: readers on a shared filesystem never see half a file."""
    temporary = "{}.{}".format(path, os.getpid())
    with open(temporary, "w") as out:
        out.write(text)
    os.rename(temporary, path)


def remember_activation(options, text, needs, plan):
    """Keep this answer for the bootstrap (vc3-builder), which hands it to the next pilot asking the
    same of the same builder without starting python, as long as every path in `needs` exists
    (done-markers, system tools): a warm start is a few file reads. The plan is kept too, for a
    dry run asking the same."""
    key, request = os.environ.get("VC3_ACTIVATION_KEY", ""), os.environ.get("VC3_ACTIVATION_REQUEST")
    if not re.match(r"^[0-9]+$", key) or request is None:
        return
    folder = os.path.join(options.install, "activations")
    makedirs(folder)
    stem = os.path.join(folder, key)
    write_file(stem + ".args", request + "\n")
    write_file(stem + ".check", "".join(path + "\n" for path in needs))
    write_file(stem + ".plan", plan)
    write_file(stem + ".env", text)


# --- operating system, mounts and wrappers --------------------------------------------------------


def parse_mount(text):
    """X, X:Y or X=Y (outside path, inside path)."""
    outside, sep, inside = text.partition("=") if "=" in text else text.partition(":")
    if not outside.startswith("/") or (sep and not inside.startswith("/")):
        raise BuilderError("--mount {}: write absolute paths, /X or /X:/Y (or /X=/Y)".format(text))
    return outside, inside or outside


def container_wrapper(options, database, problems):
    """The argv that reruns this builder inside a container of the required OS, or None when the
    host already is that OS; each reason it cannot be done is added to `problems`."""
    mounts = []
    for text in options.mount:
        try:
            mounts.append(parse_mount(text))
        except BuilderError as exc:
            problems.append(str(exc))
    for outside, inside in mounts:
        if not os.path.exists(outside):
            problems.append("--mount {}: {} does not exist on this host".format(outside, outside))
    if not options.require_os:
        for outside, inside in mounts:
            if outside != inside:
                problems.append("--mount {}={}: mounting a path elsewhere needs a container (add --require-os)".format(outside, inside))
        return None
    wanted = Requirement.parse(options.require_os)
    dist, version, like = os_release()
    host = "{} {}".format(dist, version)
    if wanted.name in [dist] + like and in_range(parse_version(version), wanted.low, wanted.high):
        log("Success: operating system {} (this host)".format(host))
        if any(outside != inside for outside, inside in mounts):
            problems.append("--mount with two paths needs a container, and the host already is {}".format(options.require_os))
        return None
    images = database.images.get(wanted.name, {})
    fitting = sorted((v for v in images if in_range(parse_version(v), wanted.low, wanted.high)), key=parse_version, reverse=True)
    runtime = next((shutil.which(name) for name in CONTAINER_RUNTIMES if shutil.which(name)), None)
    if not fitting:
        known = ", ".join(sorted("{}:{}".format(d, v) for d in database.images for v in database.images[d]))
        problems.append("--require-os {}: this host is {} and no image is known for it (known: {})".format(options.require_os, host, known or "none"))
        return None
    if not runtime:
        problems.append(
            "--require-os {}: this host is {}, and neither apptainer nor singularity is on PATH to run the {} image".format(
                options.require_os, host, options.require_os
            )
        )
        return None
    log("Success: operating system {} through {} {}".format(options.require_os, os.path.basename(runtime), images[fitting[0]]))
    binds = [options.install, HERE] + ["{}:{}".format(o, i) for o, i in mounts]
    argv = [runtime, "exec", "--cleanenv"]
    for bind in binds:
        argv += ["--bind", bind]
    return argv + [images[fitting[0]], "sh", BOOTSTRAP] + inner_arguments(options.argv)


OUTER_ONLY = ("--require-os", "--mount", "--env-to", "--var", "--revar")


def inner_arguments(argv):
    """This builder's own options for its run inside the container, minus the OS and mount ones
    (done) and the variables (carried in the container's environment, off its command line)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in OUTER_ONLY:
            skip = True
            continue
        if arg.startswith(tuple(option + "=" for option in OUTER_ONLY)):
            continue
        out.append(arg)
    return out + ["--"]


def container_environment(runtime, env, options):
    """--var and --revar values carried into a --cleanenv container through the runtime's own
    APPTAINERENV_/SINGULARITYENV_ variables (never on its command line)."""
    prefix = ("APPTAINERENV_" if os.path.basename(runtime) == "apptainer" else "SINGULARITYENV_")
    carried = {}
    for name, value in env.items():
        if name in options.variables or any(re.match(pattern + "$", name) for pattern in options.revar):
            carried[prefix + name] = value
    return carried


# --- the command line ---------------------------------------------------------------------------


def parse_args(argv):
    command = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="vc3-builder", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--require", action="append", default=[], metavar="NAME[:MIN[:MAX]]", help="a package, in a version range")
    add("--require-os", metavar="DIST[:MIN[:MAX]]", help="run in this OS, in a container when the host is another")
    add("--mount", action="append", default=[], metavar="X[:Y]", help="make path X visible (at Y, in a container)")
    add("--pip", action="append", default=[], metavar="SPEC", help="a pip requirement, installed into a venv")
    add("--install", metavar="ROOT", help="install root (default $SCRATCH/vc3-builder, else ~/.vc3-builder)")
    add("--home", metavar="DIR", help="set HOME to DIR (relative: under ROOT)")
    add("--distfiles", metavar="DIR", help="source tarball cache (default ROOT/distfiles); works offline")
    add("--repository", action="append", default=[], metavar="URL", help="a mirror tried before the recipes' own")
    add("--database", action="append", default=[], metavar="FILE|DIR", help="more recipes; later definitions win")
    add("--sys", action="append", default=[], metavar="NAME:VERSION=PREFIX", help="a package the system has at PREFIX")
    add("--no-sys", action="append", default=[], metavar="NAME|ALL", help="never use the system's NAME")
    add("--pin", action="append", default=[], metavar="NAME=VERSION", help="use exactly this version (--parallel uses it)")
    add("--var", action="append", default=[], metavar="NAME=VALUE", help="set a variable in the environment")
    add("--revar", action="append", default=[], metavar="REGEX", help="carry variables matching REGEX into a container")
    add("--make-jobs", type=int, default=DEFAULT_MAKE_JOBS, metavar="N", help="parallel make jobs (default 4)")
    add("--list", nargs="?", const="plain", metavar="section|all|os", help="list the packages and exit")
    add("--env-to", metavar="FILE", help="write the environment as sh exports and exit")
    add("--dry-run", action="store_true", help="show the plan and what would be built, change nothing")
    add("--parallel", metavar="DIR", help="write the builds as a Makeflow workflow in DIR and exit")
    add("--no-run", action="store_true", help="build the environment, run nothing")
    add("--silent", action="store_true", help="print only errors")
    add("--log", metavar="FILE", help="append the plan and build lines to FILE instead of stderr")
    options = parser.parse_args(argv)
    options.argv = argv
    options.command = command
    return options


def settle_options(options):
    """Defaults that depend on the site, and option values checked before anything runs."""
    if not options.install:
        scratch = os.environ.get("SCRATCH")
        options.install = os.path.join(scratch, "vc3-builder") if scratch and os.path.isdir(scratch) else os.path.expanduser("~/.vc3-builder")
    options.install = os.path.abspath(options.install)
    options.distfiles = os.path.abspath(options.distfiles or os.path.join(options.install, "distfiles"))
    if options.make_jobs < 1:
        raise BuilderError("--make-jobs {}: give 1 or more".format(options.make_jobs))
    options.variables = {}
    for item in options.var:
        name, sep, value = item.partition("=")
        if not sep or not re.match(r"^[A-Za-z_]\w*$", name):
            raise BuilderError("--var '{}' is not NAME=VALUE".format(item))
        options.variables[name] = value
    options.sys_overrides = {}
    for item in options.sys:
        spec, sep, prefix = item.partition("=")
        name, colon, version = spec.partition(":")
        if not (sep and colon and name and prefix.startswith("/")):
            raise BuilderError("--sys '{}' is not NAME:VERSION=/PREFIX".format(item))
        parse_version(version)
        options.sys_overrides[name] = (version, prefix)
    options.pins = {}
    for item in options.pin:
        name, sep, version = item.partition("=")
        if not (sep and name and version):
            raise BuilderError("--pin '{}' is not NAME=VERSION".format(item))
        options.pins[name] = version
    for pattern in options.revar:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BuilderError("--revar {!r} is not a regular expression: {}".format(pattern, exc))
    return options


def site_recipes(options):
    """ROOT/recipes.d: recipes the site's own people put beside the installs (a tarball they keep
    in ROOT/distfiles, a local build), read after the shipped ones and before any --database."""
    folder = os.path.join(options.install, "recipes.d")
    return [folder] if os.path.isdir(folder) else []


def pip_package(database, specs):
    """--pip SPECs become one package, named by the set (any order), installed into one venv."""
    digest = hashlib.sha256("\n".join(sorted(specs)).encode("utf-8")).hexdigest()[:12]
    name = "pip-" + digest
    database.packages[name] = {
        "section": "internal",
        "description": "pip: " + " ".join(specs),
        "versions": [{"version": "1", "source": {"type": "pip", "packages": list(specs)}, "dependencies": {"python": ["3.6"]}}],
    }
    return name


def list_packages(database, how):
    if how == "os":
        for dist in sorted(database.images):
            for version in sorted(database.images[dist], key=parse_version):
                print("{}:{}  {}".format(dist, version, database.images[dist][version]))
        return
    sections = {}
    for name, package in sorted(database.packages.items()):
        section = package.get("section", "general")
        if section == "internal" and how != "all":
            continue
        versions = ", ".join(v.get("version", "auto") for v in package["versions"])
        sections.setdefault(section, []).append("{:<16} {:<24} {}".format(name, versions, package.get("description", "")))
    for section in sorted(sections):
        if how in ("section", "all"):
            print("[{}]".format(section))
        for line in sections[section]:
            print(line)


def write_makeflow(directory, order, chosen, options):
    """One Makeflow rule per package to build, each running this builder pinned to the plan's
    versions, so `makeflow -T slurm DIR/Makeflow` builds independent packages as parallel jobs."""
    makedirs(directory)
    pins = [arg for c in chosen.values() for arg in ("--pin", "{}={}".format(c.package, c.version))]
    common = [sys.executable, os.path.abspath(__file__), "--install", options.install, "--distfiles", options.distfiles]
    for database in options.database:
        common += ["--database", os.path.abspath(database)]
    for item in options.sys:
        common += ["--sys", item]
    for flag, values in (("--no-sys", options.no_sys), ("--pip", options.pip), ("--repository", options.repository)):
        for value in values:
            common += [flag, value]
    pending = set(c.package for c in order)
    lines = ["# vc3-builder build graph: makeflow -T slurm (or local, condor, ...) {}".format(os.path.join(directory, "Makeflow")), ""]
    for candidate in order:
        target = "{}-{}.done".format(candidate.package, candidate.version)
        inputs = ["{}-{}.done".format(dep.name, chosen[dep.name].version) for dep in candidate.dependencies(()) if dep.name in pending]
        argv = common + ["--make-jobs", str(options.make_jobs), "--require", candidate.package] + pins + ["--no-run", "--silent"]
        lines.append("{}: {}".format(target, " ".join(inputs)).rstrip())
        lines.append("\t{} && touch {}".format(" ".join(shell_quote(a) for a in argv), target))
        lines.append("")
    with open(os.path.join(directory, "Makeflow"), "w") as out:
        out.write("\n".join(lines))
    log("Success: wrote {} ({} builds); run it with makeflow -T <batch system>".format(os.path.join(directory, "Makeflow"), len(order)))


def resolve(planner, requirements):
    """The chosen candidates; on failure, one reason per requirement that cannot be met, each
    checked alone too, so every part the site cannot satisfy is named."""
    chosen = planner.solve(requirements)
    if chosen is not None:
        return chosen, []
    problems = []
    planner.quiet = True
    for requirement in requirements:
        planner.failures.pop("@last", None)
        if planner.solve([requirement]) is None:
            problems.append(planner.failures.get("@last", "could not add " + requirement.who()))
    if not problems:
        problems.append("the requirements {} cannot all hold together".format(", ".join(r.text for r in requirements)))
    return None, problems


def main(argv=None):
    try:
        global QUIET, LOG
        options = settle_options(parse_args(sys.argv[1:] if argv is None else argv))
        QUIET = options.silent
        if options.log:
            try:
                makedirs(os.path.dirname(os.path.abspath(options.log)))
                LOG = open(options.log, "a")
            except OSError as exc:
                raise BuilderError("--log {}: {}".format(options.log, exc.strerror))
        return run(options)
    except BuilderError as exc:
        error(exc)
        return 1
    except KeyboardInterrupt:
        return 130


def run(options):
    database = Database()
    for path in [RECIPES] + site_recipes(options) + options.database:
        database.load(path)
    if options.list:
        list_packages(database, options.list)
        return 0
    problems = []
    wrapper = container_wrapper(options, database, problems)
    requirements = [Requirement.parse(text) for text in options.require]
    if options.pip:
        requirements.append(Requirement(pip_package(database, options.pip), text="pip " + " ".join(options.pip)))
    platform_root = platform_dir(options.install)
    probe = SystemProbe(os.path.join(platform_root, "system-versions.json"))
    planner = Planner(database, probe, options.sys_overrides, set(options.no_sys), options.pins, quiet=wrapper is not None)
    chosen = {}
    if wrapper is None:
        chosen, failed = resolve(planner, requirements)
        problems += failed
    probe.save()
    if problems:
        raise BuilderError("\n  ".join(["this site cannot provide what was asked:"] + problems))
    base = dict(os.environ)
    if wrapper is not None:
        return run_wrapped(wrapper, options, base)
    builder = Builder(options, database, chosen, platform_root)
    missing = builder.prepare()
    if options.dry_run:
        for candidate in missing:
            log("Would build: {} {} into {}".format(candidate.package, candidate.version, candidate.prefix))
        sys.stdout.write(plan_lines(install_order(chosen), missing))
        return 0
    if options.parallel:
        write_makeflow(options.parallel, missing, chosen, options)
        return 0
    for candidate in install_order(chosen):
        if candidate in missing:
            builder.install(candidate, apply_environment(dependencies_of(candidate, chosen), database, base))
    env = apply_environment(chosen, database, base)
    wrappers = [arg for c in install_order(chosen) if c.origin == "wrapper" for arg in [c.executable] + c.source.get("arguments", [])]
    needs = [os.path.join(c.prefix, DONE_MARKER) if not c.on_system else c.executable or c.prefix for c in install_order(chosen)]
    return finish(options, env, base, wrappers, needs, plan_lines(install_order(chosen), []))


def plan_lines(order, missing):
    """The plan as --dry-run prints it on stdout, a line per package, tab-separated, for programs
    to read: name (a pip set is its requirements), version, where it comes from (system, pip,
    tarball, binary, ...) and its state: the system's path, `built` (already there) or `to build`."""
    lines = []
    for candidate in order:
        if candidate.on_system:
            state = candidate.executable or candidate.prefix or ""
        else:
            state = "to build" if candidate in missing else "built"
        lines.append("\t".join([candidate.title, candidate.version, candidate.origin, state]) + "\n")
    return "".join(lines)


def dependencies_of(candidate, chosen):
    out = {}
    for requirement in candidate.dependencies(()):
        dep = chosen[requirement.name]
        out[dep.package] = dep
        out.update(dependencies_of(dep, chosen))
    return out


def finish(options, env, base, wrappers, needs, plan):
    """Write the environment (--env-to), or run the command in it."""
    env.update(options.variables)
    if options.home:
        env["HOME"] = options.home if os.path.isabs(options.home) else os.path.join(options.install, options.home)
        makedirs(env["HOME"])
    env["VC3_PYTHON"] = sys.executable
    if options.env_to:
        if wrappers:
            env["VC3_EXEC"] = launcher(options, wrappers)
            needs = needs + [env["VC3_EXEC"]]
        text = env_lines(env, base)
        write_file(options.env_to, text)
        remember_activation(options, text, needs + [sys.executable], plan)
        return 0
    if options.no_run:
        return 0
    command = wrappers + (options.command or [os.environ.get("SHELL", "/bin/sh")])
    return execute(command, env)


def run_wrapped(wrapper, options, base):
    """Everything else happens inside the container, by this builder run again there."""
    env = dict(base)
    env.update(options.variables)
    env.update(container_environment(wrapper[0], env, options))
    if options.dry_run:
        log("Would run: {}".format(" ".join(shell_quote(a) for a in wrapper)))
        return 0
    if options.env_to:
        env["VC3_EXEC"] = launcher(options, wrapper)
        write_file(options.env_to, env_lines(env, base))
        return 0
    return execute(wrapper + (options.command or ["/bin/sh"]), env)


def launcher(options, argv):
    """A script that runs its arguments through `argv` (a container or parrot_run), named by its
    content; the pilot wrapper execs the worker through it when the environment sets VC3_EXEC."""
    text = "#!/bin/sh\nexec {} \"$@\"\n".format(" ".join(shell_quote(a) for a in argv))
    path = os.path.join(options.install, "launchers", hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] + ".sh")
    if read_text(path) != text:
        makedirs(os.path.dirname(path))
        temporary = "{}.{}".format(path, os.getpid())
        with open(temporary, "w") as out:
            out.write(text)
        os.chmod(temporary, 0o755)
        os.rename(temporary, path)
    return path


def execute(command, env):
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        error("cannot run {}: {}".format(command[0], exc.strerror))
        return 127


if __name__ == "__main__":
    sys.exit(main())

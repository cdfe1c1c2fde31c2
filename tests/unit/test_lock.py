"""The virtualenv holds exactly what the locks say, the locks agree with each other, and what the
engine asks pilots to install is what was locked."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from vc3tui.engine import software

from tests import ROOT

LOCKS = ROOT / "locks"


def locked(name: str) -> dict[str, str]:
    """{package: version} of a lock file, for the packages whose markers hold on this Python."""
    pins = {}
    for line in (LOCKS / name).read_text().splitlines():
        match = re.match(r"([A-Za-z0-9._-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if match and (match.group(3) is None or Marker(match.group(3)).evaluate()):
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def test_every_locked_package_is_installed_at_its_version() -> None:
    have = installed()
    wrong = {name: (version, have.get(name)) for name, version in locked("test.txt").items() if have.get(name) != version}
    assert not wrong, f"differs from locks/test.txt (locked, installed): {wrong}; run scripts/setup test"


def test_nothing_is_installed_that_no_lock_has() -> None:
    superset = locked("bench.txt")
    extra = {name: version for name, version in installed().items() if name != "vc3tui" and superset.get(name) != version}
    assert not extra, f"installed but not in locks/bench.txt at that version: {extra}"


def test_every_lock_agrees_with_the_superset_and_has_hashes() -> None:
    superset = locked("bench.txt")
    for name in ("test.txt", "dask.txt", "wheelhouse.txt", "constraints.txt"):
        pins = locked(name)
        assert pins, name
        assert {p: v for p, v in pins.items() if p in superset and superset[p] != v} == {}, name
    for name in ("test.txt", "dask.txt", "bench.txt", "wheelhouse.txt", "uv.txt"):
        text = (LOCKS / name).read_text()
        assert text.count("==") <= text.count("--hash=sha256:"), f"{name}: a pin without a hash"


def test_the_engine_asks_pilots_for_the_locked_versions() -> None:
    wheelhouse = locked("wheelhouse.txt")
    assert software.DASK_PIP == f"dask[distributed]=={wheelhouse['dask']}"
    assert wheelhouse["distributed"] == wheelhouse["dask"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["spark"] == [software.PYSPARK_PIP]
    assert locked("test.txt")["pyspark"] == software.PYSPARK_PIP.partition("==")[2]

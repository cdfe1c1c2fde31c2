"""The shipped catalog, `local` measured at run time, and the user's own resources file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vc3tui.engine.catalog import load_catalog, local_allocation, remove_user_resource, save_user_resource
from vc3tui.engine.models import Allocation, BatchKind, Feature, NodeShape, Resource
from vc3tui.engine.tomlfile import FileErrors

RETIRED = {
    # the VC3 service's 2019 profiles: name: (organization fragment, cores, memory MB, storage MB, native os, features, retired)
    "cori": ("NERSC", 32, 4000, 10000, "suse:12", ["shifter"], 2023),
    "mwt2": ("Midwest Tier 2", 4, 1000, 1000, "scientificlinux:6.9", [], 2020),
    "midway": ("Research Computing Center", 64, 4000, 10000, "scientificlinux:6.7", [], 2020),
    "stampede2": ("TACC", 96, 2000, 10000, "centos:7.4", ["singularity"], 2024),
    "coreos": ("University of Chicago", 4, 1000, 1000, "scientificlinux:6.9", ["singularity"], 2020),
    "uct3": ("ATLAS Tier 3", 4, 1000, 1000, "scientificlinux:6.9", [], 2020),
    "ndccl": ("Notre Dame", 4, 1000, 10000, "redhat:7", ["singularity"], 2020),
    "bridges": ("PSC", 28, 4000, 35000, "centos:7.3", ["singularity"], 2021),
    "vc3-test-pool": ("VC3", 4, 1000, 1000, "centos:6.9", [], 2020),
    "osg-connect": ("Open Science Grid", 4, 1000, 1000, "unknown", [], 2025),
}
CURRENT = {
    # name: (organization fragment, login host, batch system)
    "perlmutter": ("NERSC", "perlmutter.nersc.gov", BatchKind.SLURM),
    "stampede3": ("TACC", "stampede3.tacc.utexas.edu", BatchKind.SLURM),
    "frontera": ("TACC", "frontera.tacc.utexas.edu", BatchKind.SLURM),
    "vista": ("TACC", "vista.tacc.utexas.edu", BatchKind.SLURM),
    "bridges2": ("PSC", "bridges2.psc.edu", BatchKind.SLURM),
    "expanse": ("SDSC", "login.expanse.sdsc.edu", BatchKind.SLURM),
    "anvil": ("Purdue", "anvil.rcac.purdue.edu", BatchKind.SLURM),
    "delta": ("NCSA", "login.delta.ncsa.illinois.edu", BatchKind.SLURM),
    "midway3": ("Research Computing Center", "midway3.rcc.uchicago.edu", BatchKind.SLURM),
    "ospool": ("Open Science Pool", "ap40.uw.osg-htc.org", BatchKind.CONDOR),
    "hoffman2": ("UCLA", "hoffman2.idre.ucla.edu", BatchKind.SGE),
}


def test_shipped_catalog_has_current_sites_with_their_guides_and_the_seeds_retired() -> None:
    catalog = load_catalog()
    assert set(catalog.resources) == set(CURRENT) | set(RETIRED) | {"local"}
    for name, (org, host, batch) in CURRENT.items():
        r = catalog.get(name)
        assert org in r.organization and r.login_hosts[0] == host and r.batch is batch and r.retired is None
        assert r.docs_url.startswith("https://") and r.description, name
    for name, (org, cores, memory, disk, os_name, features, year) in RETIRED.items():
        r = catalog.get(name)
        assert org in r.organization, r.organization
        assert (r.node.cores, r.node.memory_mb, r.node.disk_mb, r.native_os, r.retired) == (cores, memory, disk, os_name, year)
        assert list(r.features) == features
        assert r.login_hosts and r.description
    assert [r.name for r in catalog.sorted()] == ["local", *sorted(CURRENT)]
    assert {r.name for r in catalog.sorted(retired=True)} == set(catalog.resources)
    # what a guide does not say stays unsaid: no made-up node shape
    assert catalog.get("hoffman2").node.cores is None and catalog.get("ospool").node.memory_mb is None


def test_local_is_measured_now() -> None:
    local = load_catalog().get("local")
    assert local.batch is BatchKind.FORK
    assert local.node.cores == os.cpu_count()
    assert local.node.memory_mb > 100
    assert load_catalog().sorted()[0].name == "local"


def test_the_local_allocation_made_unvalidated_is_valid() -> None:
    local = local_allocation()
    assert Allocation.model_validate(local.model_dump()) == local


def test_user_file_keeps_comments_and_overrides_shipped(tmp_path: Path) -> None:
    path = tmp_path / "resources.toml"
    path.write_text("# my own sites, edited by hand\n\n[resources.lab]  # the lab cluster\nbatch = 'slurm'\nlogin_hosts = ['lab.example.edu']\n")
    save_user_resource(
        path,
        Resource(name="cori", batch=BatchKind.SLURM, login_hosts=["cori.nersc.gov"], partition="debug",
                 node=NodeShape(cores=64), features=[Feature.SHIFTER]),  # fmt: skip
    )
    text = path.read_text()
    assert "# my own sites, edited by hand" in text and "# the lab cluster" in text
    catalog = load_catalog(path)
    assert catalog.origin["cori"] == "user" and catalog.get("cori").partition == "debug"
    assert catalog.get("cori").node.cores == 64
    assert catalog.get("lab").login_hosts == ["lab.example.edu"]
    assert remove_user_resource(path, "lab")
    assert "lab" not in load_catalog(path).resources
    assert "# my own sites, edited by hand" in path.read_text()
    assert not remove_user_resource(path, "lab")


def test_bad_user_file_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "resources.toml"
    path.write_text("[resources.lab]\nbatch = 'slurm'\nport = 0\n")
    with pytest.raises(FileErrors) as caught:
        load_catalog(path)
    assert str(caught.value) == f"{path}:3: resources.lab.port: must be at least 1, got 0; change the value"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vc3tui", *args], capture_output=True, text=True, timeout=60)


def test_cli_resource_list_and_show(home: Path) -> None:
    listing = run_cli("resource", "list")
    assert listing.returncode == 0
    assert listing.stdout.splitlines()[0].split()[:3] == ["NAME", "BATCH", "CORES"]
    assert "stampede3" in listing.stdout and "Texas Advanced Computing Center" in listing.stdout
    assert "stampede2" not in listing.stdout and "RETIRED" not in listing.stdout
    assert "hoffman2    sge     -      -       -" in listing.stdout
    everything = run_cli("resource", "list", "--all").stdout
    assert everything.splitlines()[0].split()[-1] == "RETIRED" and "stampede2" in everything
    assert [line.split()[-1] for line in everything.splitlines() if line.startswith("cori ")] == ["2023"]
    data = json.loads(run_cli("resource", "list", "--json").stdout)
    assert {r["name"] for r in data} == set(CURRENT) | {"local"}
    assert {r["name"] for r in json.loads(run_cli("resource", "list", "--all", "--json").stdout)} == set(CURRENT) | set(RETIRED) | {"local"}
    shown = json.loads(run_cli("resource", "show", "bridges", "--json").stdout)
    assert shown["node"] == {"cores": 28, "memory_mb": 4000, "disk_mb": 35000}
    assert shown["origin"] == "shipped"
    assert "native OS     centos:7.3" in run_cli("resource", "show", "bridges").stdout
    assert "retired       2021" in run_cli("resource", "show", "bridges").stdout
    assert "MFA           NCSA password + Duo" in run_cli("resource", "show", "delta").stdout


def test_a_retired_site_takes_no_new_allocation(home: Path) -> None:
    result = run_cli("allocation", "create", "old", "--resource", "cori", "--login", "amir")
    assert result.returncode == 2
    assert result.stderr == "vc3tui: cori was retired in 2023; pick a current site (`vc3tui resource list`)\n"
    assert "old" not in run_cli("allocation", "list").stdout


def test_cli_unknown_resource_is_one_line(home: Path) -> None:
    result = run_cli("resource", "show", "atlantis")
    assert result.returncode == 2
    assert result.stderr == "vc3tui: no resource named 'atlantis'; `vc3tui resource list` shows the catalog\n"


def test_cli_version() -> None:
    from vc3tui import __version__

    assert run_cli("--version").stdout.strip() == f"vc3tui {__version__}"

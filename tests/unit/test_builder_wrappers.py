"""--require-os (apptainer/singularity) and cvmfs through parrot_run. Neither installs here, so
each is tested on its failure messages and with a stand-in that records the command it was given."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.builder_site import BUILDER, run_builder, stand_in

pytestmark = pytest.mark.timeout(60)


def test_require_os_reruns_the_builder_in_a_container_with_mounts_and_variables(tmp_path: Path) -> None:
    apptainer = stand_in(tmp_path / "bin", "apptainer", "exit 0")
    record = tmp_path / "record"
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "VC3_TEST_RECORD": str(record), "SGE_TASK": "7", "SECRETISH": "x"}
    root = tmp_path / "root"
    result = run_builder(
        root, "--require-os", "centos:7", "--mount", "/tmp=/data", "--require", "python:3", "--var", "TOKEN=s3cret",
        "--revar", "SGE_.*", "--", "myapp", "ARG 1",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Success: operating system centos:7 through apptainer docker://centos:7" in result.stderr
    argv = record.read_text().splitlines()
    assert argv[:10] == [
        str(apptainer), "exec", "--cleanenv", "--bind", str(root), "--bind", str(BUILDER.parent), "--bind", "/tmp:/data",
        "docker://centos:7",
    ]  # fmt: skip
    inner = argv[10:]
    assert inner[:2] == ["sh", str(BUILDER.parent / "vc3-builder")]
    assert "--require-os" not in inner and "--mount" not in inner and inner[inner.index("--require") + 1] == "python:3"
    assert inner[-3:] == ["--", "myapp", "ARG 1"]
    assert not any("s3cret" in arg for arg in argv)  # values reach the container through its env
    assert (tmp_path / "record.env").read_text().split() == ["APPTAINERENV_SGE_TASK=7", "APPTAINERENV_TOKEN=s3cret"]


def test_singularity_is_used_when_apptainer_is_not_there(tmp_path: Path) -> None:
    stand_in(tmp_path / "bin", "singularity", "exit 0")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "VC3_TEST_RECORD": str(tmp_path / "record")}
    result = run_builder(tmp_path / "root", "--require-os", "rocky:9", "--var", "A=1", "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "record").read_text().splitlines()[1:3] == ["exec", "--cleanenv"]
    assert (tmp_path / "record.env").read_text().split() == ["SINGULARITYENV_A=1"]


def test_the_host_os_needs_no_container_and_an_unknown_one_says_what_is_known(tmp_path: Path) -> None:
    native = run_builder(tmp_path / "root", "--require-os", "debian:11:12", "--", "true")
    assert native.returncode == 0 and "Success: operating system debian 12 (this host)" in native.stderr
    unknown = run_builder(tmp_path / "root", "--require-os", "plan9:4", "--", "true")
    assert unknown.returncode == 1
    assert "--require-os plan9:4: this host is debian 12 and no image is known for it (known: centos:7, debian:11," in unknown.stderr


def test_a_mount_elsewhere_needs_a_container(tmp_path: Path) -> None:
    result = run_builder(tmp_path / "root", "--mount", "/tmp:/data", "--", "true")
    assert result.returncode == 1
    assert "--mount /tmp=/data: mounting a path elsewhere needs a container (add --require-os)" in result.stderr
    assert run_builder(tmp_path / "root", "--mount", "/tmp", "--", "true").returncode == 0


def test_cvmfs_through_parrot_run_wraps_the_command(tmp_path: Path) -> None:
    parrot = stand_in(tmp_path / "bin", "parrot_run", 'case $1 in --version) echo "parrot_run version 9.9.0";; *) exec "$@";; esac')
    record = tmp_path / "record"
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "VC3_TEST_RECORD": str(record)}
    result = run_builder(tmp_path / "root", "--require", "cvmfs", "--", "echo", "through parrot", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "through parrot\n"
    assert record.read_text().splitlines() == [str(parrot), "echo", "through parrot"]
    env_file = tmp_path / "env.sh"
    assert run_builder(tmp_path / "root", "--require", "cvmfs", "--env-to", str(env_file), env=env).returncode == 0
    ran = subprocess.run(["sh", "-c", '. "$1" && exec ${VC3_EXEC:+"$VC3_EXEC"} echo pilot', "sh", str(env_file)], capture_output=True, text=True, env={**os.environ, **env})
    assert ran.stdout == "pilot\n" and record.read_text().splitlines() == [str(parrot), "echo", "pilot"]


def test_without_parrot_or_a_mount_cvmfs_fails_with_both_reasons(tmp_path: Path) -> None:
    result = run_builder(tmp_path / "root", "--require", "cvmfs", "--", "true", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "none of /cvmfs/cvmfs-config.cern.ch, /cvmfs/oasis.opensciencegrid.org is on this host; no parrot_run on PATH" in result.stderr


def test_the_bootstrap_says_clearly_when_there_is_no_python(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    for tool in ("dirname",):
        (empty / tool).symlink_to(f"/usr/bin/{tool}")
    result = subprocess.run(["/bin/sh", str(BUILDER.parent / "vc3-builder"), "--list"], capture_output=True, text=True, env={"PATH": str(empty)})
    assert result.returncode == 127
    assert result.stderr.startswith("vc3-builder: no python3 on PATH")
    assert json.loads((BUILDER.parent / "vc3-recipes.json").read_text())["packages"]

"""Blueprints: a good one loads; each kind of bad one is one line naming file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vc3tui.cli import main
from vc3tui.engine.blueprint import blueprint_toml, load_blueprint
from vc3tui.engine.models import HeadPlacement, MiddlewareKind
from vc3tui.engine.tomlfile import FileErrors, KeyLines

from tests import ROOT

ALLOCATIONS = {"local", "midway"}

GOOD = """\
# a comment
name = "demo"
description = "two local workers"
middleware = "dask"
peaceful = false
expiration = "72h"
entry = ["python3", "job.py"]

[environment]
pip = ["dask[distributed]"]
variables = { OMP_NUM_THREADS = "1" }

[workers]
count = 2
cores = 1
memory_mb = 2000
walltime = "02:00:00"

[[allocations]]
name = "local"
weight = 2

[[allocations]]
name = "midway"
max_pilots = 10

[head]
placement = "local"

[autoscale]
min = 1
max = 8
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bp.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_blueprint_loads(tmp_path: Path) -> None:
    bp = load_blueprint(write(tmp_path, GOOD), allocations=ALLOCATIONS)
    assert bp.middleware is MiddlewareKind.DASK
    assert bp.workers.walltime == 7200 and bp.expiration == 72 * 3600
    assert [(a.name, a.weight, a.max_pilots) for a in bp.allocations] == [("local", 2, None), ("midway", 1, 10)]
    assert bp.head.placement is HeadPlacement.LOCAL and not bp.peaceful
    assert bp.autoscale.max == 8 and bp.entry == ["python3", "job.py"]


def test_example_blueprints_are_valid() -> None:
    examples = sorted((ROOT / "examples").glob("*.toml"))
    assert examples
    for path in examples:
        load_blueprint(path, allocations={"local"})


BASE = 'name = "demo"\nmiddleware = "dask"\n[[allocations]]\nname = "local"\n'

BAD = [
    # (what, text, expected line, expected problem text)
    ("invalid TOML", 'name = "demo"\nmiddleware = dask\n', 2, "bp.toml:2: invalid TOML: invalid value"),
    ("unknown key", BASE + "[workers]\ncount = 1\nwalltme = '1h'\n", 7, "bp.toml:7: workers.walltme: unknown key; did you mean 'walltime'?"),
    ("unknown top-level key", "middlewear = 'dask'\n" + BASE, 1, "bp.toml:1: middlewear: unknown key; did you mean 'middleware'?"),
    ("wrong type", BASE + "[workers]\ncores = \"four\"\n", 6, "bp.toml:6: workers.cores: expected a whole number, got 'four'"),
    ("missing field", 'name = "demo"\n[[allocations]]\nname = "local"\n', 1, "bp.toml:1: middleware: is required; add `middleware = ...`"),
    ("missing field in a table", BASE + "[[allocations]]\nweight = 2\n", 5, "bp.toml:5: allocations[1].name: is required"),
    ("bad name", BASE.replace('"demo"', '"my cluster!"'), 1, "bp.toml:1: name: 'my cluster!' is not a valid name; use 1-64 of A-Z a-z 0-9 _ -"),
    ("negative count", BASE + "\n[workers]\ncount = -3\n", 7, "bp.toml:7: workers.count: must be at least 0, got -3; the number of workers to start"),
    ("zero cores", BASE + "[workers]\ncores = 0\n", 6, "bp.toml:6: workers.cores: must be more than 0, got 0; cores per worker"),
    ("zero weight", BASE + "weight = 0\n", 5, "bp.toml:5: allocations[0].weight: must be more than 0, got 0"),
    ("unknown middleware", BASE.replace('"dask"', '"daskk"'), 2, "bp.toml:2: middleware: unknown value 'daskk'; choose one of: 'dask', 'workqueue'"),
    ("unknown allocation", BASE + '[[allocations]]\nname = "nersc"\n', 6, "bp.toml:6: allocations[1].name: unknown allocation 'nersc'; create it with `vc3tui allocation create` or use one of: local, midway"),
    ("duplicate allocation", BASE + '[[allocations]]\nname = "local"\n', 6, "bp.toml:6: allocations[1].name: allocation 'local' is listed twice"),
    ("bad walltime", BASE + "[workers]\nwalltime = '2 hours'\n", 6, "bp.toml:6: workers.walltime: '2 hours' is not a duration; write a duration like"),
    ("zero expiration", 'expiration = "0s"\n' + BASE, 1, "bp.toml:1: expiration: must be more than 0"),
    ("autoscale min above max", BASE + "[autoscale]\nmin = 5\nmax = 2\n", 5, "bp.toml:5: autoscale: min (5) is larger than max (2)"),
    ("count outside autoscale", BASE + "[workers]\ncount = 9\n[autoscale]\nmax = 4\n", 6, "bp.toml:6: workers.count: 9 is outside autoscale 0..4"),
    ("no allocations", 'name = "demo"\nmiddleware = "dask"\nallocations = []\n', 3, "bp.toml:3: allocations: must not be empty"),
    ("head on an unknown allocation", BASE + '[head]\nplacement = "allocation"\nallocation = "gone"\n', 7, "bp.toml:7: head.allocation: unknown allocation 'gone'"),
    ("external tls scheduler without its certificates", BASE + '[head]\nplacement = "external"\naddress = "tls://x:8786"\n', 5, "bp.toml:5: head.secrets: a tls:// scheduler admits workers with its certificates, and none are given"),
    ("external scheduler over another protocol", BASE + '[head]\nplacement = "external"\naddress = "ucx://x:8786"\n', 7, "bp.toml:7: head.address: ucx://x:8786: an external Dask scheduler is reached over tcp:// or tls://"),
    ("external pool without its token", BASE.replace('"dask"', '"htcondor"') + '[head]\nplacement = "external"\naddress = "cm.example.org"\n', 5, "bp.toml:5: head.secrets: an HTCondor pool admits workers with its token, and none are given"),
    ("external secrets not a directory", BASE + '[head]\nplacement = "external"\naddress = "x"\nsecrets = "/nonexistent/ticket"\n', 8, "bp.toml:8: head.secrets: /nonexistent/ticket is not a directory"),
    ("external secrets without the password", BASE.replace('"dask"', '"workqueue"') + '[head]\nplacement = "external"\naddress = "x"\nsecrets = "/tmp"\n', 8, "bp.toml:8: head.secrets: /tmp holds none of wq-password"),
    ("secrets for a head vc3tui starts", BASE + '[head]\nsecrets = "/tmp"\n', 5, "bp.toml:5: head: secrets are for an external head"),
    ("external head autoscaled", BASE + '[workers]\ncount = 1\n[head]\nplacement = "external"\naddress = "x"\n[autoscale]\nmax = 3\n', 10, "bp.toml:10: autoscale: an external manager's demand is not known to vc3tui"),
    ("external head without manager", BASE.replace('"dask"', '"none"') + '[workers]\ncommand = ["true"]\n[head]\nplacement = "external"\naddress = "x"\n', 8, "bp.toml:8: head.placement: middleware 'none' has no manager"),
    ("batch head not on an allocation", BASE + '[head]\nbatch_job = true\n', 5, "bp.toml:5: head: batch_job needs placement = \"allocation\""),
    ("bad external address", BASE + '[head]\nplacement = "external"\naddress = "x; rm -rf ~"\n', 7, "bp.toml:7: head.address: 'x; rm -rf ~' is not a valid manager address"),
    ("head placement without allocation", BASE + '[head]\nplacement = "allocation"\n', 5, "bp.toml:5: head: placement 'allocation' needs head.allocation"),
    ("jupyterlab as a middleware", BASE.replace('"dask"', '"jupyterlab"'), 2, "bp.toml:2: middleware: JupyterLab is a head service, not a middleware of its own; set [head] jupyter = true"),
    ("none middleware without command", BASE.replace('"dask"', '"none"'), 2, "bp.toml:2: middleware: middleware 'none' runs workers.command on each pilot"),
    ("empty entry", "entry = []\n" + BASE, 1, "bp.toml:1: entry: must not be empty"),
    ("unknown named environment", BASE + '[environment]\nname = "ghost"\n', 6, "bp.toml:6: environment.name: unknown environment 'ghost'"),
    ("bad variable name", BASE + '[environment]\nvariables = { "A;B" = "1" }\n', 6, "bp.toml:6: environment.variables: 'A;B' is not an environment variable name"),
    ("value where a table belongs", "workers = 3\n" + BASE, 1, "bp.toml:1: workers: expected a table, got 3"),
    ("key after an array table", BASE + "workers = 3\n", 5, "bp.toml:5: allocations[0].workers: unknown key; allowed here: max_pilots, name, weight"),
]


@pytest.mark.parametrize("what,text,line,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_blueprint_names_file_line_and_field(tmp_path: Path, what: str, text: str, line: int, expected: str) -> None:
    path = tmp_path / "bp.toml"
    path.write_text(text)
    with pytest.raises(FileErrors) as caught:
        load_blueprint(path, allocations=ALLOCATIONS)
    first = str(caught.value.problems[0])
    assert caught.value.located[0].line == line, first
    assert first.startswith(f"{tmp_path}/{expected}"), first
    assert "\n" not in first


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "a b"\nmiddleware = "x"\n[workers]\ncount = -1\n[[allocations]]\nname = "local"\n')
    with pytest.raises(FileErrors) as caught:
        load_blueprint(path, allocations=ALLOCATIONS)
    assert [p.line for p in caught.value.located] == [1, 2, 4]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p, "no such blueprint file; check the path"),
        (lambda p: (p.mkdir(), p)[1], "is a directory; give the path of a blueprint .toml file"),
        (lambda p: (p.write_bytes(b'name = "\xff\xfe"\n'), p)[1], "1: is not UTF-8 text"),
        (lambda p: (p.parent.joinpath("plain").write_text(""), p.parent / "plain" / "bp.toml")[1], "no such blueprint file"),
    ],
    ids=["missing", "directory", "binary", "parent is a file"],
)
def test_unreadable_files(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "bp.toml")
    with pytest.raises(FileErrors, match=message):
        load_blueprint(path, allocations=ALLOCATIONS)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_permission(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    path.chmod(0)
    with pytest.raises(FileErrors, match="permission denied"):
        load_blueprint(path, allocations=ALLOCATIONS)


def test_key_lines_track_tables_arrays_and_multiline_values() -> None:
    lines = KeyLines(
        textwrap.dedent(
            '''\
            a = 1
            text = """
            fake = 2
            """
            list = [
              "x = 3",
            ]
            [t]
            "quoted key" = 4
            dotted.key = 5
            [[arr]]
            n = 1
            [[arr]]
            n = 2
            [arr.sub]
            z = 1
            '''
        )
    )
    assert lines.line_for(("a",)) == 1
    assert ("fake",) not in lines.lines and ("x",) not in lines.lines
    assert lines.line_for(("list",)) == 5
    assert lines.line_for(("t", "quoted key")) == 9
    assert lines.line_for(("t", "dotted", "key")) == 10
    assert lines.line_for(("arr", 0, "n")) == 12
    assert lines.line_for(("arr", 1, "n")) == 14
    assert lines.line_for(("arr", 1, "sub", "z")) == 16
    assert lines.line_for(("arr", 1, "missing")) == 13


def test_cli_reports_problems_without_traceback_and_starts_nothing(tmp_path: Path, home: Path) -> None:
    path = write(tmp_path, BASE + "[workers]\ncount = -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "vc3tui", "--run", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"{path}:6: workers.count: must be at least 0, got -1; the number of workers to start, 0 or more"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "flags",
    [
        ["--middleware", "dask", "--workers", "3", "--jupyter", "--pip", "dask[distributed]", "--pip", "jupyterlab"],
        ["--middleware", "workqueue", "--cores", "4", "--walltime", "2h", "--listen", "127.0.0.1"],
        ["--middleware", "spark", "--memory-mb", "4000", "--head", "external", "--head-address", "spark://m.example.org:7077"],
        ["--middleware", "htcondor", "--workers", "0"],
        ["--middleware", "none", "--worker-command", "./work.sh", "--flag"],
    ],
    ids=["dask", "workqueue", "spark", "htcondor", "none"],
)
def test_every_middleware_from_the_command_line(home: Path, tmp_path: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`vc3tui blueprint new` writes a file that reads back as the blueprint the flags describe."""
    path = tmp_path / "bp.toml"
    assert main(["blueprint", "new", "demo", "-o", str(path), *flags]) == 0, capsys.readouterr().err
    blueprint = load_blueprint(path, allocations={"local"})
    assert blueprint.middleware == flags[1] and blueprint.allocations[0].name == "local"
    assert blueprint_toml(blueprint) == path.read_text()
    if "--worker-command" in flags:
        assert blueprint.workers.command == ["./work.sh", "--flag"]
    if "external" in flags:
        assert (blueprint.head.placement, blueprint.head.address) == (HeadPlacement.EXTERNAL, "spark://m.example.org:7077")


def test_a_bad_flag_is_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blueprint", "new", "demo", "--middleware", "dask", "--head", "nowhere"]) == 2
    assert capsys.readouterr().err.strip() == "vc3tui: head.allocation: unknown allocation 'nowhere' (use one of: local)"

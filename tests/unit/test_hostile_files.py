"""Hostile files and text: files are checked before they are parsed (kind, size, nesting, NUL
bytes), each problem one line naming the file (and the line and field where there is one), in
time linear in the input; control characters never reach a terminal; a failed write says its
true cause; parallel writers keep each other's changes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vc3tui.engine.blueprint import load_blueprint
from vc3tui.engine.errors import VC3Error, file_errors
from vc3tui.engine.models import Environment, Member, Project
from vc3tui.engine.paths import update_file
from vc3tui.engine.text import CONTROL, printable, printable_lines
from vc3tui.engine.tomlfile import MAX_DEPTH, MAX_FILE_BYTES, FileErrors

BASE = 'name = "x"\nmiddleware = "none"\n[workers]\ncommand = ["sleep", "1"]\n[[allocations]]\nname = "local"\n'


def one_line(path: Path) -> str:
    with pytest.raises(FileErrors) as caught:
        load_blueprint(path, allocations={"local"})
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_fifo_is_refused_before_any_read(tmp_path: Path) -> None:
    fifo = tmp_path / "bp.toml"
    os.mkfifo(fifo)
    assert one_line(fifo) == f"{fifo}: is not a regular file (a pipe, a device or a socket); give the path of a blueprint .toml file"


def test_a_device_is_refused_before_any_read() -> None:
    assert one_line(Path("/dev/zero")).startswith("/dev/zero: is not a regular file")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert one_line(tmp_path) == f"{tmp_path}: is a directory; give the path of a blueprint .toml file"


def test_a_file_over_the_size_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "bp.toml"
    path.write_text(BASE + "# " + "x" * MAX_FILE_BYTES + "\n")
    assert one_line(path) == f"{path}: is larger than 1 MB, the most a blueprint file may be; check that this is a blueprint file"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "bp.toml"
    path.write_text(BASE.replace('command = ["sleep", "1"]', "command = " + "[" * depth + "]" * depth))
    assert f"nests arrays or tables more than {MAX_DEPTH} deep" in one_line(path)


@given(st.sampled_from(["name", "workers.command[1]", "environment.variables.X"]))
@settings(max_examples=10, deadline=None)
def test_nul_in_any_string_is_refused_with_its_field(where: str) -> None:
    import tempfile

    text = {
        "name": BASE.replace('name = "x"', 'name = "x\\u0000y"'),
        "workers.command[1]": BASE.replace('"1"', '"1\\u0000; rm -rf ~"'),
        "environment.variables.X": BASE + '[environment]\nvariables = { X = "a\\u0000b" }\n',
    }[where]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bp.toml"
        path.write_text(text)
        assert f"{where}: holds a NUL character" in one_line(path)


def test_a_command_over_the_argument_limit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bp.toml"
    path.write_text(BASE.replace('["sleep", "1"]', "[" + ", ".join(['"' + "a" * 1000 + '"'] * 100) + "]"))
    assert "workers.command: " in one_line(path) and "keep a command under 64 KiB" in one_line(path)


@pytest.mark.parametrize("spec", ["--index-url=https://evil.example/simple", "-e /", "git+https://example.org/x.git", "x @ https://example.org/x.whl", "./local"])
def test_pip_entries_must_be_requirements(spec: str) -> None:
    with pytest.raises(ValueError, match="is not a valid pip requirement"):
        Environment(pip=[spec])


def test_duplicate_detection_is_linear() -> None:
    """200,000 members: a quadratic check would take hours, past the test's timeout."""
    members = [Member(name=f"m{i}") for i in range(200_000)]
    with pytest.raises(ValueError, match="m7 listed twice"):
        Project(name="big", members=[*members, Member(name="m7")])


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_printable_text_never_carries_a_control_character(text: str) -> None:
    shown = printable(text)
    assert not CONTROL.search(shown)
    assert not CONTROL.search(printable_lines(text).replace("\n", "").replace("\t", ""))
    if not CONTROL.search(text):
        assert shown == text


@given(st.text(min_size=1, max_size=50).filter(lambda t: CONTROL.search(t) is not None))
def test_plain_text_fields_refuse_any_control_character(text: str) -> None:
    with pytest.raises(ValueError, match="holds the control character"):
        Project(name="p", description=text)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, "the disk is full; free some space on it and try again"),
        (errno.EROFS, "the filesystem is read-only"),
        (errno.ENOENT, "the folder /no/such does not exist; create it first or choose another path"),
        (errno.EACCES, "permission denied; check who may write /no/such"),
        (errno.EISDIR, "it is a directory; give a file's path"),
    ],
)
def test_a_failed_write_says_its_true_cause(code: int, says: str) -> None:
    with pytest.raises(VC3Error) as caught, file_errors("/no/such/team.toml", "write the project file"):
        raise OSError(code, os.strerror(code))
    assert str(caught.value).startswith(f"/no/such/team.toml: cannot write the project file: {says}")


@given(st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=8), min_size=2, max_size=12, unique=True))
@settings(max_examples=20, deadline=None)
def test_parallel_updates_of_one_file_keep_every_change(lines: list[str]) -> None:
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shared.txt"
        with ThreadPoolExecutor(max_workers=len(lines)) as pool:
            list(pool.map(lambda line: update_file(path, lambda text: (text or "") + line + "\n"), lines))
        assert sorted(path.read_text().splitlines()) == sorted(lines)

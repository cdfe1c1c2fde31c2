"""Bad input, fuzzed with hypothesis: batch-system output, middleware replies, blueprint, resource
and project files, builder recipes and version strings. A parser never crashes: it skips what it
cannot read, or (for the user's own files) refuses with one line per problem naming the file."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder import vc3_builder
from vc3tui.engine.batch.condor import parse_condor_q
from vc3tui.engine.batch.lsf import parse_bjobs
from vc3tui.engine.batch.pbs import our_subjobs, parse_qstat_full
from vc3tui.engine.batch.sge import parse_qstat_xml
from vc3tui.engine.batch.slurm import parse_sacct, parse_squeue
from vc3tui.engine.pilot import parse_probe
from vc3tui.engine.batch.jobs import expand
from vc3tui.engine.blueprint import load_blueprint
from vc3tui.engine.catalog import load_catalog
from vc3tui.engine.durations import parse_duration
from vc3tui.engine.middleware.dask import parse_dask_workers
from vc3tui.engine.middleware.htcondor import parse_jobs, parse_workers
from vc3tui.engine.middleware.spark import alive_workers, spark_demand
from vc3tui.engine.middleware.workqueue import catalog_records, wq_demand
from vc3tui.engine.projects import load_project
from vc3tui.engine.tomlfile import FileErrors

PREFIX = "vc3-0123456789ab-cafef00d"
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")),  # FUZZ_EXAMPLES=5000 for a longer hunt
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text that looks like what the tools print: their separators, digits of every script, our tags.
tokens = st.sampled_from(["|", ":", ",", "-", "_", "[", "]", ".", " ", "\t", "\n", "0", "1", "99999999999", "²", "٣", "-1",
                          PREFIX, f"vc3tui {PREFIX} 0-3", f"vc3tui {PREFIX} 0-99999999999", "R", "PD", "RUN", "PEND", "undefined",
                          "None", "(null)", "COMPLETED", "FAILED", "CANCELLED by 0", "0:0", "1:9", "Job Id: 7[0].pbs", "job_state = R",
                          "Variable_List = VC3TUI_PREFIX=" + PREFIX + ",VC3TUI_INDEXES=0-2", "\tcont", "1-9:0", "9-1"])  # fmt: skip
tool_text = st.one_of(st.text(), st.lists(st.one_of(tokens, st.text(max_size=5)), max_size=60).map("".join))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
named_json = st.dictionaries(st.sampled_from(["Jobs", "workers", "activeapps", "coresused", "cores", "state", "name", "address", "type",
                                              "project", "tasks_waiting", "tasks_on_workers", "packages", "versions", "source"]), json_values, max_size=5)
replies = st.one_of(json_values, named_json, st.lists(named_json, max_size=3), st.fixed_dictionaries({"workers": st.lists(named_json, max_size=3)}))  # fmt: skip


@FUZZ
@given(tool_text)
def test_batch_system_output_never_crashes_a_parser(text: str) -> None:
    prefixes = {PREFIX}
    parse_squeue(text, prefixes)
    parse_sacct(text)
    parse_bjobs(text, prefixes)
    parse_condor_q(text, prefixes)
    our_subjobs(parse_qstat_full(text), prefixes)
    parse_qstat_xml(text, prefixes)
    parse_qstat_xml(f"<job_info><job_list><JB_name>{PREFIX}</JB_name><JB_job_number>7</JB_job_number><tasks>{text}</tasks></job_list></job_info>", prefixes)
    parse_probe(text)
    parse_workers(text)
    parse_jobs(text)


@FUZZ
@given(tool_text)
def test_a_garbled_range_never_expands_past_an_array(text: str) -> None:
    assert len(expand(text)) <= 100_000


@FUZZ
@given(replies)
def test_json_replies_never_crash_a_parser(value) -> None:
    text = json.dumps(value)
    our_subjobs(parse_qstat_full(text), {PREFIX})
    for parse in (parse_dask_workers, alive_workers, lambda v: spark_demand(v, 2), lambda v: wq_demand(catalog_records(v), "vc3-x", 2)):
        try:
            parse(value)
        except ValueError as exc:
            assert "\n" not in str(exc) and str(exc)


@FUZZ
@given(st.text())
def test_a_duration_is_read_or_refused_in_one_line(text: str) -> None:
    try:
        parse_duration(text)
    except ValueError as exc:
        assert "\n" not in str(exc)


# The user's own files: random documents built from the real field names, and raw text.

BLUEPRINT_KEYS = ["name", "middleware", "workers", "count", "cores", "walltime", "allocations", "head", "placement", "address",
                  "environment", "pip", "require", "variables", "autoscale", "min", "max", "entry", "expiration", "secrets"]  # fmt: skip
toml_scalars = st.one_of(st.integers(-5, 10**12), st.text(max_size=12), st.booleans(), st.sampled_from(["dask", "local", "1h", "-1", "tls://x", "sge"]))
toml_values = st.deferred(
    lambda: toml_scalars | st.lists(toml_values, max_size=3) | st.dictionaries(st.sampled_from(BLUEPRINT_KEYS), toml_values, max_size=4)
)
documents = st.dictionaries(st.sampled_from(BLUEPRINT_KEYS + ["resources", "members", "blueprints", "clusters", "batch", "login_hosts"]), toml_values, max_size=8)


def one_line_problems(exc: FileErrors, path: Path) -> None:
    assert exc.problems
    for problem in exc.problems:
        assert "\n" not in str(problem) and str(problem).startswith(str(path))


@FUZZ
@given(st.one_of(documents.map(tomlkit.dumps), st.text()))
def test_a_bad_blueprint_resource_or_project_file_is_refused_line_by_line(tmp_path_factory, text: str) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "file.toml"
    path.write_text(text)
    for load in (
        lambda: load_blueprint(path, allocations={"local"}),
        lambda: load_project(path),
        lambda: load_catalog(path, scratch=folder),
    ):
        try:
            load()
        except FileErrors as exc:
            one_line_problems(exc, path)


def test_resources_file_fuzz_hits_its_own_fields(tmp_path: Path) -> None:
    """The catalog reader is fuzzed above with blueprint-shaped keys; this makes sure a broken
    resources table is one of the cases (so the property is not vacuous for resources.toml)."""
    path = tmp_path / "resources.toml"
    path.write_text('[resources.lab]\nbatch = "pbsx"\nport = "ssh"\n')
    with pytest.raises(FileErrors) as raised:
        load_catalog(path, scratch=tmp_path)
    assert sorted(p.line for p in raised.value.located) == [2, 3]


@FUZZ
@given(st.text(alphabet=string.printable + "²٣ⅷ", max_size=20))
def test_a_version_string_is_read_or_refused(text: str) -> None:
    try:
        vc3_builder.parse_version(text)
        vc3_builder.Requirement.parse(text)
    except vc3_builder.BuilderError as exc:
        assert "\n" not in str(exc)


def maybe(strategy):
    """A field that is right, wrong in type, or missing."""
    return st.one_of(strategy, json_values)


recipe_versions = st.lists(
    maybe(st.fixed_dictionaries(
        {"source": maybe(st.fixed_dictionaries({"type": maybe(st.sampled_from(["system", "tarball", "pip", "wrapper", "binary"]))},
                                               optional={"files": maybe(st.lists(maybe(st.fixed_dictionaries({"name": json_values, "sha256": maybe(st.just("0" * 64))})))),
                                                         "executables": json_values}))},
        optional={"version": maybe(st.sampled_from(["auto", "3.8", "1.0rc", "x"])), "dependencies": maybe(st.dictionaries(st.text(max_size=4), json_values))},
    )),
    max_size=3,
)  # fmt: skip
recipes = st.one_of(
    json_values,
    named_json,
    st.fixed_dictionaries(
        {"packages": maybe(st.dictionaries(st.text(max_size=5), maybe(st.fixed_dictionaries({"versions": maybe(recipe_versions)}, optional={"environment": json_values})), max_size=3))},
        optional={"mirrors": json_values, "operating-systems": json_values},
    ),
)  # fmt: skip


@FUZZ
@given(recipes)
def test_builder_recipes_are_loaded_or_refused_naming_the_file(tmp_path_factory, value) -> None:
    path = tmp_path_factory.mktemp("recipes") / "recipes.json"
    path.write_text(json.dumps(value))
    database = vc3_builder.Database()
    try:
        database.load(str(path))
    except vc3_builder.BuilderError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)

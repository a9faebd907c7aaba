"""The results layout, spelled once: a run's parts → its paths → its parts again, and the
paths a spec that is not laid out so does not pretend to have."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camp_contract import layout
from camp_contract.layout import RunLocation, locate_spec

ROOT = Path("/srv/results")
campaign_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
exp_ids = st.from_regex(r"[0-9a-f]{12}", fullmatch=True)


def test_the_layout_of_a_run() -> None:
    location = RunLocation(ROOT, "smoke", "0123456789ab", 3)
    files = location.files
    assert files.spec == Path("/srv/results/smoke/0123456789ab/c3/spec.json")
    assert files.result.name == "result.json" and files.timeseries.name == "timeseries.parquet"
    assert files.error.name == "error.json" and files.container_log.name == "container.log"
    assert {p.parent for p in files.harness_outputs} == {files.dir}
    assert layout.manifest_path(location.campaign_dir) == Path("/srv/results/smoke/manifest.sqlite")
    assert layout.aggregate_dir(location.campaign_dir) == Path("/srv/results/smoke/aggregate")
    assert layout.report_dir(location.campaign_dir) == Path("/srv/results/smoke/report")
    assert layout.baseline_cache_dir(ROOT) == Path("/srv/results/.cache")


@given(campaign=campaign_names, exp_id=exp_ids, cycle=st.integers(min_value=0, max_value=10**6))
def test_parts_to_path_to_parts(campaign: str, exp_id: str, cycle: int) -> None:
    location = RunLocation(ROOT, campaign, exp_id, cycle)
    assert locate_spec(location.files.spec) == location
    assert locate_spec(location.files.spec).files == location.files  # type: ignore[union-attr]


def test_a_relative_spec_path_counts_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert locate_spec(Path("results/t/e1/c0/spec.json")) == RunLocation(
        Path(os.getcwd()) / "results", "t", "e1", 0
    )


@pytest.mark.parametrize(
    "path",
    [
        "/srv/results/t/e1/run0/spec.json",  # not a cycle directory
        "/srv/results/t/e1/c01/spec.json",  # not one the layout writes
        "/srv/results/t/e1/c0/result.json",  # not a spec
        "/e1/c0/spec.json",  # no campaign above it
        "/tmp/by-hand/spec.json",
    ],
)
def test_a_spec_outside_the_layout_has_no_location(path: str) -> None:
    assert locate_spec(Path(path)) is None


@pytest.mark.parametrize(("exp_id", "cycle"), [("a/b", 0), ("..", 0), ("", 0), ("e1", -1)])
def test_a_run_that_cannot_be_one_directory_is_refused(exp_id: str, cycle: int) -> None:
    with pytest.raises(ValueError):
        layout.run_dir(ROOT / "t", exp_id, cycle)


def test_the_same_paths_inside_a_container() -> None:
    files = layout.run_files(PurePosixPath("/results"), "t", "e1", 2)
    assert files.spec == PurePosixPath("/results/t/e1/c2/spec.json")
    assert isinstance(files.spec, PurePosixPath)


def test_only_run_directories_with_a_result_are_found(tmp_path: Path) -> None:
    for exp_id, cycle in [("b", 1), ("a", 0), ("a", 10)]:
        files = layout.run_files(tmp_path, "t", exp_id, cycle)
        files.dir.mkdir(parents=True)
        files.result.write_text("{}")
    layout.run_files(tmp_path, "t", "c", 0).dir.mkdir(parents=True)  # no result: not done
    (tmp_path / "t" / layout.AGGREGATE_DIRNAME / "cx").mkdir(parents=True)
    (tmp_path / "t" / layout.AGGREGATE_DIRNAME / "cx" / "result.json").write_text("{}")
    found = layout.run_dirs_with_result(tmp_path / "t")
    assert [(p.parent.name, p.name) for p in found] == [("a", "c0"), ("a", "c10"), ("b", "c1")]

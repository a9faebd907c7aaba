"""The runs table: one row per (exp_id, cycle), config flattened, metrics right, files atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

from harness.contract import RESULT_FILENAME, RequestRecord
from orchestrator import aggregate, report, stats
from tests.aggregate.helpers import make_spec, write_experiment, write_run
from tests.factories import make_result

OUTPUT_TOKENS = 4 * 16  # helpers: 4 requests × 16 output tokens


def test_one_row_per_run_keyed_and_sorted_with_config_flattened(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "bbb", [20.0, 22.0], batch_size=4)
    dirs += write_experiment(tmp_path, "aaa", [10.0, 12.0, 11.0], batch_size=1, extra={"foo": {"bar": 3}})
    runs = aggregate.runs_table(dirs)
    assert list(zip(runs["exp_id"], runs["cycle"], strict=True)) == [
        ("aaa", 0),
        ("aaa", 1),
        ("aaa", 2),
        ("bbb", 0),
        ("bbb", 1),
    ]
    assert list(runs.columns[:2]) == ["exp_id", "cycle"]
    assert runs["params.batch_size"].tolist() == [1, 1, 1, 4, 4]
    assert runs["params.extra.foo.bar"].iloc[0] == 3
    assert pd.isna(runs["params.extra.foo.bar"].iloc[3])
    assert runs["workload.max_output_tokens"].iloc[0] == 16
    assert runs["measurement.baseline.duration_s"].iloc[0] == 5.0
    assert runs["backend"].iloc[0] == "stub"
    # factory: adjusted energy = energy − 2 W × 2 s, spread over the output tokens
    assert runs["energy_per_output_token_j"].iloc[0] == pytest.approx((10.0 - 4.0) / OUTPUT_TOKENS)
    assert set(aggregate.config_columns(runs)) >= {"backend", "model", "seed", "params.batch_size"}
    assert "energy_per_output_token_j" not in aggregate.config_columns(runs)


def test_a_field_only_some_backends_have_stays_an_integer(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0], batch_size=8)
    dirs += write_experiment(tmp_path, "b", [10.0], dtype="float16")
    runs = aggregate.runs_table(dirs)
    assert str(runs["params.batch_size"].dtype) == "Int64"
    assert runs["params.batch_size"].iloc[0] == 8 and pd.isna(runs["params.batch_size"].iloc[1])
    assert pd.isna(runs["params.dtype"].iloc[0]) and runs["params.dtype"].iloc[1] == "float16"
    assert aggregate.swept_columns(runs) == ["params.batch_size", "params.dtype"]


def test_parquet_and_csv_round_trip(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0], batch_size=1)
    dirs += write_experiment(tmp_path, "b", [12.0, 13.0], dtype="bfloat16")
    runs = aggregate.runs_table(dirs)
    out = tmp_path / "aggregate"
    written = aggregate.write_tables(runs, out)
    assert sorted(p.name for p in written) == ["runs.csv", "runs.parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["runs.csv", "runs.parquet"]  # no temp files left
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), runs)
    from_csv = pd.read_csv(out / "runs.csv")
    assert list(from_csv.columns) == list(runs.columns)
    for column in ["exp_id", "cycle", "params.batch_size", "params.dtype", "energy_per_output_token_j"]:
        expected = runs[column].astype(object).where(runs[column].notna(), None).tolist()
        got = from_csv[column].astype(object).where(from_csv[column].notna(), None).tolist()
        assert got == expected, column


def test_rewriting_tables_replaces_them(tmp_path: Path) -> None:
    out = tmp_path / "aggregate"
    aggregate.write_tables(pd.DataFrame({"exp_id": ["a"], "cycle": [0]}), out)
    aggregate.write_tables(pd.DataFrame({"exp_id": ["b", "c"], "cycle": [0, 1]}), out)
    assert pd.read_csv(out / "runs.csv")["exp_id"].tolist() == ["b", "c"]


def test_invalid_result_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (run_dir,) = write_experiment(tmp_path, "a", [10.0])
    (run_dir / RESULT_FILENAME).write_text('{"campaign": "demo"}')
    with pytest.raises(aggregate.AggregationError, match=r"result\.json: invalid RunResult .*re-run"):
        aggregate.runs_table([run_dir])


def test_missing_result_and_mismatched_result_are_clear_errors(tmp_path: Path) -> None:
    (run_dir,) = write_experiment(tmp_path, "a", [10.0])
    (run_dir / RESULT_FILENAME).unlink()
    with pytest.raises(aggregate.AggregationError, match="missing"):
        aggregate.runs_table([run_dir])
    other = make_result(make_spec("zzz", 0))
    write_run(tmp_path, make_spec("a", 0), other)
    with pytest.raises(aggregate.AggregationError, match="spec is a/c0 but result is zzz/c0"):
        aggregate.runs_table([run_dir])


def test_the_same_run_twice_is_refused(tmp_path: Path) -> None:
    (run_dir,) = write_experiment(tmp_path, "a", [10.0])
    with pytest.raises(aggregate.AggregationError, match="given twice"):
        aggregate.runs_table([run_dir, run_dir])


def test_no_runs_gives_an_empty_table_with_the_keys(tmp_path: Path) -> None:
    runs = aggregate.runs_table([])
    assert runs.empty and list(runs.columns) == ["exp_id", "cycle"]
    tables = aggregate.aggregate_runs([])
    assert tables.experiments.empty


def test_experiments_frame_carries_config_and_intervals(tmp_path: Path) -> None:
    energies = [10.0, 12.0, 11.0]
    dirs = write_experiment(tmp_path, "a", energies, batch_size=2)
    experiments = aggregate.experiments_frame(aggregate.runs_table(dirs))
    row = experiments.iloc[0]
    per_token = (np.array(energies) - 4.0) / OUTPUT_TOKENS
    low, high = DescrStatsW(per_token).tconfint_mean()
    assert row["params.batch_size"] == 2
    assert row["energy_per_output_token_j_mean"] == pytest.approx(per_token.mean())
    assert (row["energy_per_output_token_j_low"], row["energy_per_output_token_j_high"]) == pytest.approx(
        (low, high)
    )
    assert row["energy_per_output_token_j_n"] == 3
    assert row["energy_per_output_token_j_method"] == stats.METHOD_T


def test_the_interval_method_is_named_in_experiments_csv(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", [10.0, 12.0, 11.0, 13.0, 10.5], batch_size=2)
    write_experiment(tmp_path, "b", [10.0, 12.0, 11.0], batch_size=4)
    aggregate.aggregate_campaign(tmp_path)
    table = pd.read_csv(tmp_path / aggregate.AGGREGATE_DIRNAME / "experiments.csv").set_index("exp_id")
    assert table.loc["a", "energy_per_output_token_j_method"] == stats.METHOD_BOOTSTRAP_T
    # Every cycle ran for the same duration here: no spread, and the label says so.
    assert table.loc["a", "throughput_tokens_per_s_method"] == stats.METHOD_BOOTSTRAP_T + stats.ZERO_VARIANCE
    assert table.loc["b", "energy_per_output_token_j_method"] == stats.METHOD_T


def test_request_latency_interval_is_over_per_cycle_means(tmp_path: Path) -> None:
    cycles = [[0.11, 0.13, 0.12, 0.19], [0.21, 0.20, 0.25, 0.22], [0.15, 0.14, 0.18, 0.16]]
    dirs = []
    for cycle, latencies in enumerate(cycles):
        spec = make_spec("a", cycle)
        requests = tuple(RequestRecord(input_tokens=8, output_tokens=16, latency_s=x) for x in latencies)
        dirs.append(write_run(tmp_path, spec, make_result(spec, requests=requests)))
    tables = aggregate.aggregate_runs(dirs)
    assert len(tables.requests) == 12
    row = tables.request_latency.iloc[0]
    cycle_means = np.array([np.mean(latencies) for latencies in cycles])
    low, high = DescrStatsW(cycle_means).tconfint_mean()
    assert row["n"] == 3 and row["requests"] == 12 and row["method"] == stats.METHOD_T
    assert row["mean"] == pytest.approx(cycle_means.mean())
    assert (row["low"], row["high"]) == pytest.approx((low, high), rel=1e-9)


def test_request_latency_intervals_cover_the_true_mean_when_cycles_differ() -> None:
    """Requests of one cycle share its conditions: simulated experiments whose cycles shift every
    latency by a common factor (10 %) on top of per-request noise (20 %). The old interval over
    pooled requests held the true mean in about 60 % of them; one over cycles holds it in ~95 %."""
    rng = np.random.default_rng(2024)
    experiments, cycles, requests = 300, 5, 16
    cycle_factor = rng.normal(1.0, 0.1, (experiments, cycles, 1))
    latencies = cycle_factor * rng.lognormal(0.0, 0.2, (experiments, cycles, requests))
    true_mean = np.exp(0.2**2 / 2)
    frame = pd.DataFrame(
        {
            "exp_id": np.repeat(np.arange(experiments), cycles * requests),
            "cycle": np.tile(np.repeat(np.arange(cycles), requests), experiments),
            "request": np.tile(np.arange(requests), experiments * cycles),
            "latency_s": latencies.ravel(),
        }
    )
    table = aggregate.request_latency_frame(frame)
    coverage = ((table["low"] <= true_mean) & (true_mean <= table["high"])).mean()
    assert coverage >= 0.9
    assert (table["n"] == cycles).all()


def test_done_run_dirs_without_a_manifest_falls_back_to_result_files(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0])
    (tmp_path / "b" / "c0").mkdir(parents=True)  # a run that never finished: no result.json
    assert aggregate.done_run_dirs(tmp_path) == dirs


def test_aggregate_campaign_writes_every_table(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", [10.0, 11.0], latencies=[0.1, 0.2, 0.3, 0.4])
    aggregate.aggregate_campaign(tmp_path)
    names = sorted(p.name for p in (tmp_path / aggregate.AGGREGATE_DIRNAME).iterdir())
    assert names == [
        "experiments.csv",
        "experiments.parquet",
        "request_latency.csv",
        "request_latency.parquet",
        "requests.parquet",
        "runs.csv",
        "runs.parquet",
    ]


def _run_on_revision(campaign: Path, exp_id: str, cycle: int, revision: str | None) -> None:
    spec = make_spec(exp_id, cycle)
    model = {"requested": "org/m", "load_from": "/x", "source": "hub", "revision": revision}
    write_run(campaign, spec, make_result(spec, environment={"model": model}))


def test_the_model_commit_of_each_run_is_a_column_and_a_change_mid_experiment_is_flagged(
    tmp_path: Path,
) -> None:
    _run_on_revision(tmp_path, "steady", 0, "aaa")
    _run_on_revision(tmp_path, "steady", 1, "aaa")
    _run_on_revision(tmp_path, "drifted", 0, "aaa")
    _run_on_revision(tmp_path, "drifted", 1, "bbb")
    _run_on_revision(tmp_path, "local", 0, None)
    runs = aggregate.runs_table(aggregate.done_run_dirs(tmp_path))
    assert runs.set_index(["exp_id", "cycle"]).loc[("drifted", 1), "model_revision"] == "bbb"
    (warning,) = aggregate.mixed_revision_warnings(runs)
    assert warning.startswith("experiment drifted ran on 2 revisions of its model (aaa, bbb)")
    assert "org/name@<commit>" in warning
    assert f"warning: {warning}" in report.summary_text(tmp_path)  # printed after `camp run`


def test_results_from_before_warning_kinds_still_validate() -> None:
    """result.json files written when warnings were plain strings load as kind 'unclassified'."""
    from harness.contract import RunResult

    dumped = json.loads(make_result(make_spec("aaa", 0)).model_dump_json())
    dumped["warnings"] = ["an old warning"]
    (warning,) = RunResult.model_validate(dumped).warnings
    assert (warning.kind, warning.message) == ("unclassified", "an old warning")

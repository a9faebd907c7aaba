"""The runs table: one row per (exp_id, cycle), config flattened, metrics right, files atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from camp_contract import layout
from camp_contract.layout import RESULT_FILENAME
from camp_contract.models import Provenance, RequestRecord, SamplingInfo
from orchestrator import aggregate, stats
from orchestrator.report import terminal, write_report
from tests.aggregate.helpers import make_spec, t_interval, write_experiment, write_run
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
    dirs += write_experiment(tmp_path, "b", [10.0], backend="vllm", dtype="float16")
    runs = aggregate.runs_table(dirs)
    assert str(runs["params.batch_size"].dtype) == "Int64"
    assert runs["params.batch_size"].iloc[0] == 8 and pd.isna(runs["params.batch_size"].iloc[1])
    assert pd.isna(runs["params.dtype"].iloc[0]) and runs["params.dtype"].iloc[1] == "float16"
    assert {"params.batch_size", "params.dtype"} <= set(aggregate.swept_columns(runs))


def test_parquet_and_csv_round_trip(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0], batch_size=1)
    dirs += write_experiment(tmp_path, "b", [12.0, 13.0], backend="vllm", dtype="bfloat16")
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
    with pytest.raises(
        aggregate.AggregationError,
        match=r"result\.json: invalid RunResult .*`camp run` again redoes that run",
    ):
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
    low, high = t_interval(per_token)
    assert row["params.batch_size"] == 2
    assert row["energy_per_output_token_j_mean"] == pytest.approx(per_token.mean())
    assert (row["energy_per_output_token_j_low"], row["energy_per_output_token_j_high"]) == pytest.approx(
        (low, high)
    )
    assert row["energy_per_output_token_j_n"] == 3
    assert row["energy_per_output_token_j_method"] == stats.METHOD_T_WIDENED


def test_the_interval_method_is_named_in_experiments_csv(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", [10.0, 12.0, 11.0, 13.0, 10.5], batch_size=2)
    write_experiment(tmp_path, "b", [10.0, 12.0, 11.0], batch_size=4)
    aggregate.aggregate_campaign(tmp_path)
    table = pd.read_csv(layout.aggregate_dir(tmp_path) / "experiments.csv").set_index("exp_id")
    assert table.loc["a", "energy_per_output_token_j_method"] == stats.METHOD_BOOTSTRAP_T
    # Every cycle ran for the same duration here: no spread, and the label says so.
    assert table.loc["a", "throughput_tokens_per_s_method"] == stats.METHOD_BOOTSTRAP_T + stats.ZERO_VARIANCE
    assert table.loc["b", "energy_per_output_token_j_method"] == stats.METHOD_T_WIDENED


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
    low, high = t_interval(cycle_means)
    assert (
        row["request_latency_s_n"] == 3
        and row["requests"] == 12
        and row["request_latency_s_method"] == stats.METHOD_T_WIDENED
    )
    assert row["request_latency_s_mean"] == pytest.approx(cycle_means.mean())
    assert (row["request_latency_s_low"], row["request_latency_s_high"]) == pytest.approx(
        (low, high), rel=1e-9
    )


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
    coverage = (
        (table["request_latency_s_low"] <= true_mean) & (true_mean <= table["request_latency_s_high"])
    ).mean()
    assert coverage >= 0.9
    assert (table["request_latency_s_n"] == cycles).all()


def test_done_run_dirs_without_a_manifest_falls_back_to_result_files(tmp_path: Path) -> None:
    dirs = write_experiment(tmp_path, "a", [10.0, 11.0])
    (tmp_path / "b" / "c0").mkdir(parents=True)  # a run that never finished: no result.json
    assert aggregate.done_run_dirs(tmp_path) == dirs


def test_aggregate_campaign_writes_every_table(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", [10.0, 11.0], latencies=[0.1, 0.2, 0.3, 0.4])
    aggregate.aggregate_campaign(tmp_path)
    names = sorted(p.name for p in (layout.aggregate_dir(tmp_path)).iterdir())
    assert names == [
        "experiments.csv",
        "experiments.parquet",
        "request_latency.csv",
        "request_latency.parquet",
        "requests.parquet",
        "runs.csv",
        "runs.parquet",
        "warnings.csv",
        "warnings.parquet",
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
    assert f"warning: {warning}" in terminal.summary_text(tmp_path)  # printed after `camp run`


def test_results_from_before_warning_kinds_still_validate() -> None:
    """result.json files written when warnings were plain strings load as kind 'unclassified'."""
    from camp_contract.models import RunResult

    dumped = json.loads(make_result(make_spec("aaa", 0)).model_dump_json())
    dumped["warnings"] = ["an old warning"]
    (warning,) = RunResult.model_validate(dumped).warnings
    assert (warning.kind, warning.message) == ("unclassified", "an old warning")


def _run_on_build(campaign: Path, exp_id: str, cycle: int, revision: str, image_id: str | None) -> None:
    spec = make_spec(exp_id, cycle)
    provenance = Provenance(camp_version="0.1.0", source_revision=revision, image_id=image_id)
    sampling = SamplingInfo(
        asked_hz=10,
        achieved_hz=9.5,
        n_samples_window=21,
        max_interval_s=0.12,
        power_readings={"GPU-a": "instant", "GPU-b": "average_1s"},
    )
    write_run(campaign, spec, make_result(spec, provenance=provenance, sampling=sampling))


def test_provenance_and_sampling_are_columns_and_missing_ones_stay_empty(tmp_path: Path) -> None:
    _run_on_build(tmp_path, "built", 0, "a" * 40, "sha256:" + "1" * 64)
    spec = make_spec("older", 0)
    write_run(tmp_path, spec, make_result(spec))  # written before provenance and sampling existed
    runs = aggregate.runs_table(aggregate.done_run_dirs(tmp_path)).set_index("exp_id")
    built, older = runs.loc["built"], runs.loc["older"]
    assert (built["camp_version"], built["source_revision"]) == ("0.1.0", "a" * 40)
    assert built["image_id"] == "sha256:" + "1" * 64 and pd.isna(built["image_digest"])
    assert (built["achieved_hz"], built["n_samples_window"], built["max_sample_interval_s"]) == (
        9.5,
        21,
        0.12,
    )
    assert built["power_readings"] == "average_1s,instant"
    assert older["source_revision"] == "unknown" and pd.isna(older["power_readings"])
    assert pd.isna(older["achieved_hz"]) and pd.isna(older["n_samples_window"])
    assert runs["achieved_hz"].dtype == "float64" and runs["n_samples_window"].dtype == "Int64"
    aggregate.write_tables(runs.reset_index(), tmp_path / "out")  # parquet takes the typed columns


def test_an_experiment_whose_cycles_ran_on_different_builds_is_flagged(tmp_path: Path) -> None:
    image_a, image_b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    _run_on_build(tmp_path, "steady", 0, "a" * 40, image_a)
    _run_on_build(tmp_path, "steady", 1, "a" * 40, image_a)
    _run_on_build(tmp_path, "recoded", 0, "a" * 40, image_a)
    _run_on_build(tmp_path, "recoded", 1, "b" * 40 + "-dirty", image_b)
    _run_on_build(tmp_path, "rebuilt", 0, "a" * 40, image_a)  # same code, another image (new base)
    _run_on_build(tmp_path, "rebuilt", 1, "a" * 40, image_b)
    _run_on_build(tmp_path, "untold", 0, "a" * 40, None)  # unknown builds neither confirm nor contradict
    _run_on_build(tmp_path, "untold", 1, "unknown", None)
    runs = aggregate.runs_table(aggregate.done_run_dirs(tmp_path))
    revisions, images = (
        [w for w in aggregate.mixed_build_warnings(runs) if what in w] for what in ("revisions", "images")
    )
    assert revisions == [
        "experiment recoded ran on 2 camp revisions (aaaaaaaaaaaa, bbbbbbbbbbbb-dirty): its cycles are not "
        "repeats of one measurement; compare them per build (runs table), or re-run them on one build"
    ]
    assert [w.split(" ran on")[0] for w in images] == ["experiment rebuilt", "experiment recoded"]
    assert "(111111111111, 222222222222)" in images[0]
    assert f"warning: {revisions[0]}" in terminal.summary_text(tmp_path)  # printed after `camp run`


def test_the_counter_step_each_run_measured_is_a_column(tmp_path: Path) -> None:
    from camp_contract.models import EnergyInfo

    refined = EnergyInfo(
        method="counter_refined",
        total_j=10.0,
        counter_j=10.4,
        integrated_j=10.1,
        adjusted_j=6.0,
        disagreement=0.01,
        method_reason="the counter's step (100 ms) is resolved by samples 10 ms apart",
        counter_step_s=0.1,
        counter_step_resolved=True,
    )
    write_run(tmp_path, make_spec("aaa", 0), make_result(make_spec("aaa", 0), energy=refined))
    write_run(tmp_path, make_spec("aaa", 1), make_result(make_spec("aaa", 1)))  # integration: no step
    runs = aggregate.runs_table(aggregate.done_run_dirs(tmp_path))
    assert runs["energy_method"].tolist() == ["counter_refined", "integration"]
    assert runs["energy_counter_step_s"].dtype == "float64"
    assert runs["energy_counter_step_s"].iloc[0] == 0.1 and pd.isna(runs["energy_counter_step_s"].iloc[1])


def test_the_thermal_state_of_each_run_is_a_column_and_older_results_leave_it_empty(tmp_path: Path) -> None:
    from camp_contract.models import SettleInfo

    settle = SettleInfo(
        reference="baseline",
        judged_on="temperature_and_power",
        settled=False,
        waited_s=120.0,
        temperature_c={"GPU-a": 61.0, "GPU-b": 58.0},
        power_w=180.0,
        reference_temperature_c={"GPU-a": 40.0, "GPU-b": 41.0},
        reference_power_w=150.0,
    )
    warm_spec, old_spec = make_spec("warm", 0), make_spec("old", 0)
    plain = make_result(warm_spec)
    warm = make_result(
        warm_spec,
        settle=settle,
        window_start_temperature_c={"GPU-a": 63.0, "GPU-b": 60.0},
        baseline=plain.baseline.model_copy(update={"temperature_c": {"GPU-a": 40.0}, "age_s": 300.0}),
    )
    dirs = [write_run(tmp_path, warm_spec, warm), write_run(tmp_path, old_spec, make_result(old_spec))]
    runs = aggregate.runs_table(dirs).set_index("exp_id")
    assert runs.loc["warm", "settled"] == False  # noqa: E712 (a nullable column)
    assert runs.loc["warm", "settle_waited_s"] == 120.0 and runs.loc["warm", "baseline_age_s"] == 300.0
    assert runs.loc["warm", "window_start_temperature_c"] == 63.0  # the hottest GPU
    assert runs.loc["warm", "baseline_temperature_c"] == 40.0
    assert pd.isna(runs.loc["old", "settle_waited_s"]) and pd.isna(
        runs.loc["old", "window_start_temperature_c"]
    )
    aggregate.write_tables(runs.reset_index(), tmp_path / "aggregate")
    back = pd.read_parquet(tmp_path / "aggregate" / "runs.parquet").set_index("exp_id")
    assert back.loc["warm", "settled"] == False and back.loc["old", "settled"] is None  # noqa: E712


def _run_on_node(campaign: Path, exp_id: str, cycle: int, host: str | None, gpu: str | None) -> None:
    spec = make_spec(exp_id, cycle)
    result = make_result(spec, provenance=Provenance(camp_version="0.1.0", hostname=host))
    if gpu is not None:
        environment = {**result.environment, "gpus": [{"uuid": "GPU-a", "name": gpu}] * 2}
        result = result.model_copy(update={"environment": environment})
    write_run(campaign, spec, result)


def test_an_experiment_whose_cycles_ran_on_other_nodes_or_gpu_models_is_flagged(tmp_path: Path) -> None:
    _run_on_node(tmp_path, "pinned", 0, "node1", "NVIDIA H100 80GB HBM3")
    _run_on_node(tmp_path, "pinned", 1, "node1", "NVIDIA H100 80GB HBM3")
    _run_on_node(tmp_path, "moved", 0, "node1", "NVIDIA H100 80GB HBM3")
    _run_on_node(tmp_path, "moved", 1, "node2", "NVIDIA A100-SXM4-80GB")
    _run_on_node(tmp_path, "older", 0, None, None)  # recorded neither: neither confirms nor contradicts
    _run_on_node(tmp_path, "older", 1, "node3", None)
    runs = aggregate.runs_table(aggregate.done_run_dirs(tmp_path)).set_index(["exp_id", "cycle"])
    assert runs.loc[("pinned", 0), "gpu_models"] == "2× NVIDIA H100 80GB HBM3"
    assert runs.loc[("moved", 1), "hostname"] == "node2"
    warnings = aggregate.mixed_hardware_warnings(runs.reset_index())
    assert [w.split(" ran on")[0] for w in warnings] == ["experiment moved", "experiment moved"]
    assert "2 GPU models (2× NVIDIA A100-SXM4-80GB; 2× NVIDIA H100 80GB HBM3)" in warnings[0]
    assert "2 nodes (node1; node2)" in warnings[1]
    summary = terminal.summary_text(tmp_path)  # printed after `camp run`
    assert f"warning: {warnings[1]}" in summary
    page = write_report(tmp_path).read_text()
    assert "ran on 2 nodes (node1; node2)" in page

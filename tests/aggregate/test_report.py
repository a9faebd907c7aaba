"""The terminal summary and the HTML report with its plots."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from camp_contract.layout import TIMESERIES_FILENAME
from orchestrator import aggregate, stats
from orchestrator.report import data, figures, formatting, terminal, traces, write_report
from tests.aggregate.helpers import make_spec, write_experiment, write_run
from tests.factories import make_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ENERGY, THROUGHPUT = formatting.ENERGY, formatting.THROUGHPUT


def _campaign(root: Path, *, with_trace: bool = True) -> Path:
    campaign = root / "demo"
    rng = np.random.default_rng(0)
    for i, batch in enumerate([1, 4, 16]):
        for dtype, factor in [("float16", 1.0), ("float32", 1.8)]:
            energies = list(factor * 60 / batch + 5 + rng.normal(0, 0.5, 3))
            dirs = write_experiment(
                campaign,
                f"e{i}{dtype}",
                energies,
                duration_s=4.0 / batch,
                latencies=[0.1, 0.12, 0.11, 0.15],
                backend="pytorch",
                batch_size=batch,
                dtype=dtype,
            )
            if with_trace:
                t = np.arange(0, 6, 0.1)
                power = np.where(t < 4.0 / batch, 30.0, 2.0)
                for run_dir in dirs:
                    pd.DataFrame({"t_s": t, "power_w": power}).to_parquet(run_dir / TIMESERIES_FILENAME)
    return campaign


def _images(index: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', index.read_text())


def test_report_references_pngs_that_exist(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    index = write_report(campaign)
    assert index == campaign / "report" / "index.html"
    images = _images(index)
    assert set(images) == {
        "energy_vs_params_batch_size.png",
        "energy_vs_params_dtype.png",
        "pareto.png",
        "energy_vs_latency.png",
    }
    for name in images:
        png = (index.parent / name).read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 5_000, name
    assert not [p for p in index.parent.iterdir() if p.name.endswith(".tmp")]
    page = index.read_text()
    for exp_id in ["e0float16", "e2float32"]:
        assert exp_id in page
    assert "<td>student-t, widened</td>" in page  # 3 cycles each: the interval column names the method
    assert "bars: 95% CI over cycles (student-t, widened; n = 3)" in page  # and every plot caption
    assert (campaign / "aggregate" / "runs.parquet").is_file()


def test_report_without_power_traces_says_so(tmp_path: Path) -> None:
    index = write_report(_campaign(tmp_path, with_trace=False))
    assert 'id="trace-viewer"' not in index.read_text()
    assert "No power trace" in index.read_text()
    assert not (index.parent / traces.TRACES_DIR).exists()


def test_report_of_a_campaign_with_no_done_runs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    index = write_report(tmp_path / "empty")
    assert _images(index) == []
    assert "No finished runs" in index.read_text()


def test_every_run_with_a_trace_is_in_the_viewer_which_opens_on_the_median_run(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    index = write_report(campaign)
    tables = aggregate.aggregate_campaign(campaign)
    trace_files = traces.write_trace_files(tables.runs, campaign, index.parent)
    viewer = data.report_data(campaign, tables, trace_files=trace_files).traces
    assert viewer is not None
    assert len(viewer.options) == len(tables.runs) == 18
    runs = tables.runs
    distance = (runs[ENERGY] - runs[ENERGY].median()).abs()
    nearest = runs.loc[distance.idxmin()]
    assert viewer.selected == traces.trace_key(nearest["exp_id"], nearest["cycle"])
    page = index.read_text()
    for option in viewer.options:  # each listed run's script is there, named in the page
        assert (index.parent / option.src).is_file() and f'data-src="{option.src}"' in page


def test_trace_scripts_are_rewritten_only_when_changed_and_removed_for_runs_gone(
    tmp_path: Path,
) -> None:
    campaign = _campaign(tmp_path)
    runs = aggregate.aggregate_campaign(campaign).runs
    out = tmp_path / "report"
    first = traces.write_trace_files(runs, campaign, out)
    script = out / first[traces.trace_key(runs.iloc[-1]["exp_id"], runs.iloc[-1]["cycle"])]
    script.write_text("window.campTrace('kept', {});\n")  # newer than its parquet: not read again
    again = traces.write_trace_files(runs.iloc[1:], campaign, out)
    assert script.read_text() == "window.campTrace('kept', {});\n"
    gone = out / first[traces.trace_key(runs.iloc[0]["exp_id"], runs.iloc[0]["cycle"])]
    assert not gone.exists() and len(again) == len(runs) - 1


def test_a_trace_script_holds_each_series_downsampled_with_the_window_and_baseline(tmp_path: Path) -> None:
    n = 5000
    trace = pd.DataFrame(
        {
            "t_s": np.linspace(0, 50, n),
            "device": "GPU-a",
            "power_w": np.full(n, 100.0),
            "temperature_c": np.full(n, 50.0),
            "sm_clock_mhz": np.nan,
        }
    )
    run = pd.Series({"window_start_s": 1.0, "window_end_s": 9.0, "baseline_power_w": 20.0})
    payload = traces.trace_payload(trace, run)
    (device,) = payload["devices"]
    assert len(device["t"]) == traces.MAX_TRACE_POINTS and device["t"][-1] == 50.0
    assert "sm_clock_mhz" not in device and set(device["temperature_c"]) == {50.0}
    assert payload["window"] == [1.0, 9.0] and payload["baseline_w"] == 20.0
    script = traces.trace_script("</script>x/c0", payload)
    assert "</script>" not in script and script.startswith("window.campTrace(")


def test_trace_without_power_column_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / TIMESERIES_FILENAME
    pd.DataFrame({"t_s": [0.0, 0.1], "watts": [1.0, 2.0]}).to_parquet(path)
    assert traces.read_timeseries(path) is None
    path.write_bytes(b"not parquet")
    assert traces.read_timeseries(path) is None


def test_summary_has_one_readable_row_per_experiment(tmp_path: Path) -> None:
    tables = aggregate.aggregate_runs(aggregate.done_run_dirs(_campaign(tmp_path)))
    text = terminal.format_summary(tables.experiments)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    unit = formatting.energy_unit(tables.experiments["energy_per_output_token_j_mean"])
    assert f"{unit.name}/token (95% CI)" in lines[0] and "tokens/s (95% CI)" in lines[0]
    for _, row in tables.experiments.iterrows():
        (line,) = [line for line in lines if line.startswith(row["exp_id"])]
        expected = formatting.format_interval(
            row["energy_per_output_token_j_mean"],
            row["energy_per_output_token_j_low"],
            row["energy_per_output_token_j_high"],
            unit.scale,
        )
        assert expected in line
        assert f"batch_size={row['params.batch_size']}" in line
        assert f"dtype={row['params.dtype']}" in line
        assert re.search(r"\s3\s+t\+$", line), line  # n and the method


def test_summary_truncates_long_config_labels_to_the_width() -> None:
    experiments = pd.DataFrame(
        {
            "exp_id": ["a" * 12, "b" * 12],
            "backend": ["stub", "stub"],
            "params.extra": ["x" * 200, "y" * 200],
            **{
                f"{metric}_{column}": [1.0, 2.0] if column != "method" else [stats.METHOD_T] * 2
                for metric in ("energy_per_output_token_j", "throughput_tokens_per_s")
                for column in ("mean", "low", "high", "method")
            },
            "energy_per_output_token_j_n": [3, 3],
        }
    )
    lines = terminal.format_summary(experiments).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" in lines[2]


def test_summary_of_nothing() -> None:
    assert "no finished runs" in terminal.format_summary(pd.DataFrame())


@pytest.mark.parametrize(
    ("mean", "low", "high", "scale", "expected"),
    [
        (12.34, 11.9, 12.78, 1.0, "12.34 ± 0.44"),
        (0.01234, 0.01190, 0.01278, 1e3, "12.34 ± 0.44"),
        (12.3, 12.0, 13.1, 1.0, "12.30 +0.80/−0.30"),
        (1234.0, 1100.0, 1368.0, 1.0, "1234 ± 134"),
        (5.0, float("nan"), float("nan"), 1.0, "5"),
        (5.0, 5.0, 5.0, 1.0, "5.000 ± 0.000"),
        (0.1, 0.1 - 1e-17, 0.1 + 1e-17, 1e3, "100.0 ± 0.0"),  # float noise is no interval width
        (float("nan"), float("nan"), float("nan"), 1.0, "—"),
    ],
)
def test_format_interval(mean: float, low: float, high: float, scale: float, expected: str) -> None:
    assert formatting.format_interval(mean, low, high, scale) == expected


def test_energy_unit_picks_a_readable_scale() -> None:
    assert formatting.energy_unit(np.array([2.5, 3.0])).name == "J"
    assert formatting.energy_unit(np.array([0.012, 0.02])).name == "mJ"
    assert formatting.energy_unit(np.array([2e-5])).name == "µJ"


def test_summary_text_of_a_campaign_dir_writes_the_tables(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path, with_trace=False)
    text = terminal.summary_text(campaign)
    assert "e1float32" in text and "batch_size=4" in text
    assert (campaign / "aggregate" / "runs.parquet").is_file()
    assert (campaign / "aggregate" / "experiments.csv").is_file()


def test_report_of_two_backends_with_different_parameters(tmp_path: Path) -> None:
    campaign = tmp_path / "mixed"
    for batch in (1, 4):
        write_experiment(campaign, f"stub{batch}", [10.0, 11.0, 12.0], batch_size=batch)
    for dtype in ("float16", "float32"):
        write_experiment(campaign, f"pt{dtype}", [30.0, 31.0], backend="pytorch", dtype=dtype)
    write_experiment(campaign, "pt_only_one", [30.0], backend="vllm", max_num_seqs=8)
    experiments = aggregate.experiments_frame(aggregate.runs_table(aggregate.done_run_dirs(campaign)))
    # max_num_seqs differs from NA but has one value: nothing to plot against it
    assert "params.max_num_seqs" in aggregate.swept_columns(experiments)
    assert data.plotted_parameters(experiments) == ["backend", "params.batch_size", "params.dtype"]
    index = write_report(campaign)
    assert set(_images(index)) == {
        "energy_vs_backend.png",
        "energy_vs_params_batch_size.png",
        "energy_vs_params_dtype.png",
        "pareto.png",
        "energy_vs_latency.png",
    }
    text = terminal.format_summary(experiments)
    assert "backend=vllm" in text and "max_num_seqs=8" not in text.splitlines()[3]


def test_summary_text_summarises_the_valid_runs_and_names_a_broken_one(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    (run_dir,) = write_experiment(campaign, "a", [10.0])
    write_experiment(campaign, "bbbb", [12.0])
    (run_dir / "result.json").write_text("{}")
    text = terminal.summary_text(campaign)
    assert "bbbb" in text and "cannot summarise" not in text
    assert f"not in these tables (unreadable): {run_dir / 'result.json'}: invalid RunResult" in text


def test_pareto_front_is_listed_and_stale_plots_are_removed(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    stale = campaign / "report" / "energy_vs_params_old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(PNG_MAGIC)
    page = write_report(campaign).read_text()
    assert "<h3>Pareto front: throughput vs energy</h3>" in page
    assert not stale.exists()


def test_too_many_categories_are_not_plotted() -> None:
    experiments = pd.DataFrame(
        {
            "exp_id": [f"e{i}" for i in range(40)],
            "model": [f"model-{i}" for i in range(40)],
            "params.batch_size": [2**i for i in range(40)],
        }
    )
    assert data.plotted_parameters(experiments) == ["params.batch_size"]


def test_the_report_names_each_rows_interval_method(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    write_experiment(campaign, "five", [10.0, 12.0, 11.0, 13.0, 10.5], latencies=[0.1, 0.2], batch_size=1)
    write_experiment(campaign, "three", [10.0, 12.0, 11.5], latencies=[0.1, 0.2], batch_size=4)
    page = write_report(campaign).read_text()
    first_table = page.split("</table>")[0]
    headers = re.findall(r"<th>(.*?)</th>", first_table)
    rows = {
        cells[0]: cells
        for cells in (re.findall(r"<td>(.*?)</td>", r) for r in first_table.split("<tr"))
        if cells
    }
    assert rows["five"][headers.index("interval")] == stats.METHOD_BOOTSTRAP_T
    assert rows["three"][headers.index("interval")] == stats.METHOD_T_WIDENED
    assert "bootstrap-t" in page.split("<h2>Plots</h2>")[0].split("</table>")[1]  # the note under it


def _pooled_runs() -> pd.DataFrame:
    """Two batch sizes × 9 dtypes (more combinations than colours), 3 cycles each."""
    rng = np.random.default_rng(4)
    rows = []
    for i, dtype in enumerate(f"t{k}" for k in range(data.MAX_SERIES + 1)):
        for batch in (1, 8):
            level = 1.0 + 0.1 * i + (0.5 if batch == 1 else 0.0)
            for cycle in range(3):
                rows.append(
                    {
                        "exp_id": f"{dtype}-{batch}",
                        "cycle": cycle,
                        "backend": "stub",
                        "model": "m",
                        "params.batch_size": batch,
                        "params.dtype": dtype,
                        ENERGY: level + rng.normal(0, 0.01),
                        THROUGHPUT: 100.0 + rng.normal(0, 1),
                    }
                )
    return pd.DataFrame(rows)


def test_a_pooled_plot_point_has_its_interval_over_experiment_means(tmp_path: Path) -> None:
    runs = _pooled_runs()
    experiments = aggregate.experiments_frame(runs, [ENERGY, THROUGHPUT])
    plotted = data.energy_series(experiments, runs, "params.batch_size")
    ((label, points),) = plotted.lines
    assert plotted.over == "per-experiment means" and "n = experiments" in label
    point = points.set_index("params.batch_size").loc[8]
    means = runs[runs["params.batch_size"] == 8].groupby("exp_id")[ENERGY].mean()
    expected = stats.interval_of_mean(means.to_numpy())
    assert point[f"{ENERGY}_n"] == data.MAX_SERIES + 1  # experiments, not their 27 runs
    assert (point[f"{ENERGY}_low"], point[f"{ENERGY}_high"]) == pytest.approx((expected.low, expected.high))
    note = data.bars_note([points], plotted.over)
    assert note == f"bars: 95% CI over per-experiment means ({stats.METHOD_BOOTSTRAP_T}; n = 9)"
    path = figures.plot_energy_vs_parameter(experiments, runs, "params.batch_size", tmp_path / "e.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_each_line_of_an_energy_plot_carries_the_cycles_its_intervals_are_made_of(tmp_path: Path) -> None:
    tables = aggregate.aggregate_campaign(_campaign(tmp_path, with_trace=False))
    series = data.energy_series(tables.experiments, tables.kept_runs, "params.batch_size")
    assert [label for label, _ in series.lines] == ["float16", "float32"]
    for (_, line), points in zip(series.lines, series.points, strict=True):
        runs = tables.kept_runs[tables.kept_runs["exp_id"].isin(line["exp_id"])]
        assert sorted(points[ENERGY]) == sorted(runs[ENERGY]) and len(points) == 9  # 3 sizes × 3 cycles


def test_pooled_lines_carry_one_point_per_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MAX_SERIES", 1)
    tables = aggregate.aggregate_campaign(_campaign(tmp_path, with_trace=False))
    series = data.energy_series(tables.experiments, tables.kept_runs, "params.batch_size")
    assert series.over == "per-experiment means"
    (points,) = series.points
    means = tables.kept_runs.groupby("exp_id")[ENERGY].mean()
    assert sorted(points[ENERGY]) == pytest.approx(sorted(means))


def test_the_energy_latency_front_keeps_what_nothing_beats_on_both(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    # (latency s, energy J): fast+costly and slow+cheap are on the front; slow+costly is not
    for name, latency, energy in (("fast", 0.1, 30.0), ("cheap", 0.5, 10.0), ("worse", 0.6, 40.0)):
        for cycle, joules in enumerate([energy, energy * 1.01]):
            spec = make_spec(name, cycle, batch_size=len(name))
            result = make_result(spec, energy_j=joules)
            metrics = result.metrics.model_copy(update={"latency_mean_s": latency})
            write_run(campaign, spec, result.model_copy(update={"metrics": metrics}))
    tables = aggregate.aggregate_campaign(campaign)
    report = data.report_data(campaign, tables)
    assert report.latency is not None and report.latency_table is not None
    on_front = set(report.latency.experiments.loc[report.latency.front, "exp_id"])
    assert on_front == {"fast", "cheap"}
    assert [row[0] for row in report.latency_table.rows] == ["fast", "cheap"]
    assert "batch_size" in report.latency_table.headers  # the config columns of each front point


def test_the_page_shows_a_by_table_per_swept_field_and_the_ones_asked_for(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path, with_trace=False)
    page = write_report(campaign, by=[["batch_size", "dtype"], ["dtype"]]).read_text()
    titles = re.findall(r"<h3>(By [^<]+)</h3>", page)
    assert titles == ["By params.batch_size", "By params.dtype", "By params.batch_size, params.dtype"]
    assert "n counts cycles" in page


def test_the_methods_paragraph_counts_baselines_estimators_interval_methods_and_exclusions(
    tmp_path: Path,
) -> None:
    from tests.aggregate.helpers import add_warnings

    campaign = _campaign(tmp_path, with_trace=False)
    add_warnings(campaign / "e0float16" / "c0", "throttled")
    tables = aggregate.aggregate_campaign(campaign, exclude_warned=["throttled"])
    text = " ".join(data.report_data(campaign, tables).methods)
    assert "synthetic (no GPU: the synthetic power source) for 17 runs" in text  # the kept runs
    assert "sampled power integrated over the window for 17 runs" in text
    assert "n = 2: student-t (1 experiment); n = 3: student-t, widened (5 experiments)" in text
    assert "1 with throttled excluded from every interval" in text
    assert "Measured by camp " in text and "for 18 runs" in text

"""One unit per quantity, stated in the header: SI prefixes chosen per column, tokens/s and every
other number without scientific notation, percentages rounded — in the terminal, the report's
tables and the CSVs' column names."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from orchestrator import aggregate, cli, run_messages, slo
from orchestrator.cli_report import compare, report
from orchestrator.report import data, format_campaign_summary, formatting
from tests.aggregate.helpers import make_spec, write_experiment
from tests.aggregate.serving_helpers import write_load_sweep
from tests.factories import make_result
from tests.orchestrator.fakes import FakeExecutor

SCIENTIFIC = re.compile(r"\d(\.\d+)?e[+-]?\d", re.IGNORECASE)


@pytest.mark.parametrize(
    ("base", "values", "expected"),
    [
        ("J", [1500.0, 2500.0], "kJ"),
        ("J", [2.5, 3.0], "J"),
        ("J", [0.012, 0.02], "mJ"),
        ("J", [2e-5], "µJ"),
        ("J", [3e-8], "nJ"),
        ("W", [0.25, 0.3], "mW"),
        ("s", [0.0123, 0.02], "ms"),
        ("s", [1500.0], "s"),  # seconds never become ks
        ("J", [0.0, 0.0], "J"),
        ("J", [float("nan")], "J"),
    ],
)
def test_one_si_prefix_per_column_from_its_typical_value(
    base: str, values: list[float], expected: str
) -> None:
    assert formatting.si_unit(base, np.array(values)).name == expected


def test_a_metric_column_name_says_its_unit() -> None:
    per_token = formatting.metric_unit("energy_per_output_token_j", [0.004, 0.005])
    assert (per_token.name, per_token.scale) == ("mJ/token", 1e3)
    assert formatting.metric_unit("energy_per_request_j", [1500.0]).name == "kJ/request"
    assert formatting.metric_unit("throughput_tokens_per_s", [123456.0]).name == "tokens/s"
    assert formatting.metric_unit("avg_power_w", [250.0]).name == "W"
    assert formatting.metric_unit("latency_mean_s", [0.1]).name == "ms"
    assert formatting.metric_unit("energy_disagreement", [0.1]).name == ""
    assert formatting.metric_title("energy_per_output_token_j") == "energy per output token"
    assert formatting.with_unit("energy", formatting.EnergyUnit("mJ/token", 1e3)) == "energy (mJ/token)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(123456.7, "123457"), (12345.6, "12346"), (5.0, "5"), (0.012345, "0.01235"), (1.5e-7, "0.00000015")],
)
def test_numbers_are_never_scientific(value: float, expected: str) -> None:
    assert formatting.format_number(value) == expected
    assert formatting.format_interval(value, float("nan"), float("nan")) == expected


def test_percentages_are_rounded_to_one_decimal() -> None:
    assert formatting.format_percent(-0.12345) == "-12.3 %"
    assert formatting.format_percent(0.05) == "+5.0 %"
    assert formatting.format_percent(float("nan")) == "—"


def _fast_campaign(root: Path) -> Path:
    """Single cycles (no interval) at tens of thousands of tokens/s: where `.4g` wrote 6.4e+04."""
    campaign = root / "fast"
    write_experiment(campaign, "aaaa11112222", [10.0], duration_s=0.001, latencies=[0.1] * 4, batch_size=1)
    write_experiment(campaign, "bbbb33334444", [12.0], duration_s=0.001, latencies=[0.1] * 4, batch_size=8)
    return campaign


def test_camp_report_prints_units_in_headers_and_no_scientific_notation(tmp_path: Path) -> None:
    campaign = _fast_campaign(tmp_path)
    result = CliRunner().invoke(report, [str(campaign)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("exp_id"))
    assert "J/token (95% CI)" in header and "tokens/s (95% CI)" in header
    assert "64000" in result.output  # 64 tokens in 1 ms, written out
    assert not SCIENTIFIC.search(result.output), result.output


def test_the_report_table_states_a_unit_in_every_number_column(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    write_experiment(campaign, "a", [10.0, 11.0, 10.5], latencies=[0.1, 0.12, 0.11, 0.15], batch_size=1)
    write_experiment(campaign, "b", [14.0, 15.0, 14.5], latencies=[0.2, 0.22, 0.21, 0.25], batch_size=8)
    tables = aggregate.aggregate_campaign(campaign)
    table = data.report_data(campaign, tables).experiment_table
    assert table is not None
    headers = set(table.headers)
    assert {
        "energy (mJ/token)",
        "throughput (tokens/s)",
        "energy (J/request)",
        "avg power (W)",
        "request latency (ms)",
    } <= headers
    assert not any(SCIENTIFIC.search(cell) for row in table.rows for cell in row)
    latency_csv = pd.read_csv(campaign / "aggregate" / "request_latency.csv")
    assert {"request_latency_s_mean", "request_latency_s_low", "request_latency_s_high"} <= set(
        latency_csv.columns
    )
    assert not {"mean", "low", "high"} & set(latency_csv.columns)  # a bare number has no unit


def _fast_paired_campaign(root: Path) -> Path:
    """Two cycles each, so the tables have intervals and compare has pairs: µJ per token (over the
    20 W baseline) and tens of thousands of tokens/s, where a `.4g` would write 6.4e+04."""
    campaign = root / "fast"
    write_experiment(campaign, "aaaa11112222", [0.0210, 0.0211], duration_s=0.001, batch_size=1)
    write_experiment(campaign, "bbbb33334444", [0.0212, 0.0214], duration_s=0.001, batch_size=8)
    return campaign


def test_a_runs_progress_line_takes_a_prefix_and_never_scientific_notation() -> None:
    spec = make_spec("aaaa11112222", 0)
    line = run_messages.progress_figures(make_result(spec, energy_j=0.021, duration_s=0.001))
    assert re.fullmatch(r"\d+(\.\d+)? µJ/token, 64000 tokens/s", line), line


def test_the_by_tables_state_their_units_in_the_terminal_and_the_page(tmp_path: Path) -> None:
    campaign = _fast_paired_campaign(tmp_path)
    result = CliRunner().invoke(report, [str(campaign), "--by", "batch_size"])
    assert result.exit_code == 0, result.output
    by = result.output.split("by params.batch_size:", 1)[1].splitlines()
    assert "µJ/token (95% CI)" in by[1] and "tokens/s (95% CI)" in by[1]
    assert not SCIENTIFIC.search(result.output), result.output
    page = data.report_data(
        campaign, aggregate.aggregate_campaign(campaign, write=False), by=[["batch_size"]]
    )
    (table,) = [t for t in page.by_tables if t.title == "By params.batch_size"]
    assert {"energy (µJ/token)", "throughput (tokens/s)"} <= set(table.table.headers)
    assert not any(SCIENTIFIC.search(cell) for row in table.table.rows for cell in row)


def test_compare_states_each_rows_unit_and_never_scientific_notation(tmp_path: Path) -> None:
    campaign = _fast_paired_campaign(tmp_path)
    result = CliRunner().invoke(compare, [str(campaign), "batch_size=1", "batch_size=8"])
    assert result.exit_code == 0, result.output
    rows = {line.split("  ")[0]: line for line in result.output.splitlines()}
    assert " µJ/token " in rows["energy per token"] and " tokens/s " in rows["throughput"]
    assert "64000" in rows["throughput"]
    assert not SCIENTIFIC.search(result.output), result.output


def test_the_serving_table_names_a_unit_in_every_number_column(tmp_path: Path) -> None:
    write_load_sweep(tmp_path / "serving", [1.0, 4.0, 16.0, math.inf], cycles=2)
    text = format_campaign_summary(
        aggregate.aggregate_campaign(tmp_path / "serving", service_level=slo.ServiceLevel(ttft_p90_s=0.5))
    )
    # only the load tells these experiments apart: no config column
    header = next(line for line in text.splitlines() if line.startswith("exp_id  load"))
    numbers = re.split(r"\s{2,}", header)[2:-1]  # after exp_id and load; before SLO met
    assert numbers == ["achieved (req/s)", "J/request", "TTFT p90 (ms)", "TPOT p90 (ms)", "goodput (req/s)"]
    assert not SCIENTIFIC.search(text), text


def test_the_report_camp_run_refreshes_is_in_camp_reports_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_file = tmp_path / "c.yaml"
    campaign_file.write_text(
        "name: c\nmodels: [m]\nbackends: {stub: {grid: {batch_size: [1, 2]}}}\ncycles: 2\n"
    )
    monkeypatch.setattr(cli, "make_executor", lambda choice, compose, site=None: (FakeExecutor(), None))
    ran = CliRunner().invoke(cli.main, ["run", str(campaign_file), "--results-dir", str(tmp_path / "r")])
    assert ran.exit_code == 0, ran.output
    index = tmp_path / "r" / "c" / "report" / "index.html"
    after_run = re.findall(r"<th[^>]*>(.*?)</th>", index.read_text())
    reported = CliRunner().invoke(report, [str(tmp_path / "r" / "c")])
    assert reported.exit_code == 0, reported.output
    assert re.findall(r"<th[^>]*>(.*?)</th>", index.read_text()) == after_run and after_run

    def summary(output: str) -> list[str]:
        lines = output.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("exp_id"))
        return lines[start : start + 4]

    assert summary(ran.output) == summary(reported.output)
    assert "mJ/token (95% CI)" in summary(ran.output)[0] or "J/token (95% CI)" in summary(ran.output)[0]

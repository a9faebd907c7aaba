"""``camp report`` and ``camp compare`` through click's runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner
from scipy import stats as sps

from orchestrator.cli_report import compare, report
from tests.aggregate.helpers import add_warnings, write_experiment

OUTPUT_TOKENS = 64


def _campaign(root: Path) -> Path:
    campaign = root / "demo"
    write_experiment(campaign, "fast", [10.0, 11.0, 10.5, 10.2], batch_size=8)
    write_experiment(campaign, "slow", [14.0, 15.5, 14.2, 14.9, 30.0], batch_size=1)
    return campaign


def test_report_writes_tables_and_html_and_prints_the_path(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    result = CliRunner().invoke(report, [str(campaign)])
    assert result.exit_code == 0, result.output
    index = campaign / "report" / "index.html"
    assert index.is_file()
    assert f"report: {index}" in result.output
    assert "fast" in result.output and "slow" in result.output
    assert (campaign / "aggregate" / "runs.csv").is_file()


def test_report_with_a_campaign_file_uses_the_results_dir(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _campaign(results)
    campaign_file = tmp_path / "campaign.yaml"
    campaign_file.write_text("name: demo\nmodels: [tiny-random:gpt2]\nbackends:\n  stub: {}\n")
    result = CliRunner().invoke(report, [str(campaign_file), "--results-dir", str(results)])
    assert result.exit_code == 0, result.output
    assert (results / "demo" / "report" / "index.html").is_file()


def test_report_on_a_broken_result_fails_with_the_file_named(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    (campaign / "fast" / "c0" / "result.json").write_text("{")
    result = CliRunner().invoke(report, [str(campaign)])
    assert result.exit_code == 1
    assert "fast/c0/result.json" in result.output
    assert "Traceback" not in result.output


def test_compare_pairs_cycles_and_matches_scipy(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    result = CliRunner().invoke(
        compare, [str(campaign), "slow", "fast", "--metric", "energy_per_output_token_j"]
    )
    assert result.exit_code == 0, result.output
    slow = (np.array([14.0, 15.5, 14.2, 14.9]) - 4.0) / OUTPUT_TOKENS  # cycle 4 of slow has no partner
    fast = (np.array([10.0, 11.0, 10.5, 10.2]) - 4.0) / OUTPUT_TOKENS
    reference = sps.ttest_rel(slow, fast)
    ci = reference.confidence_interval()
    line = next(line for line in result.output.splitlines() if line.startswith("energy_per_output_token_j"))
    assert f"[{ci.low:.3g}, {ci.high:.3g}]" in line
    assert max(len(line) for line in result.output.splitlines()) <= 100
    assert f" {reference.pvalue:.3f} " in line or (reference.pvalue < 0.001 and " <0.001 " in line)
    assert line.rstrip().endswith(" 4")
    assert "paired t" in result.output


def test_compare_unknown_experiment_or_metric(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    unknown_exp = CliRunner().invoke(compare, [str(campaign), "fast", "nope"])
    assert (
        unknown_exp.exit_code == 2 and "'nope'" in unknown_exp.output and "fast, slow" in unknown_exp.output
    )
    unknown_metric = CliRunner().invoke(compare, [str(campaign), "fast", "slow", "--metric", "joules"])
    assert unknown_metric.exit_code == 2 and "joules" in unknown_metric.output


def _warned_campaign(root: Path) -> Path:
    campaign = _campaign(root)
    add_warnings(campaign / "slow" / "c4", "throttled")
    add_warnings(campaign / "fast" / "c0", "negative_energy")
    return campaign


def test_report_exclude_warned_is_repeatable_and_says_what_it_left_out(tmp_path: Path) -> None:
    campaign = _warned_campaign(tmp_path)
    result = CliRunner().invoke(
        report, [str(campaign), "--exclude-warned", "throttled", "--exclude-warned", "negative_energy"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the block is wrapped to the terminal width
    assert "the 2 runs with negative_energy, throttled are left out of the intervals above" in text
    experiments = pd.read_csv(campaign / "aggregate" / "experiments.csv").set_index("exp_id")
    assert experiments.loc["slow", "energy_per_output_token_j_n"] == 4
    assert experiments.loc["slow", "excluded_runs"] == 1
    assert experiments.loc["fast", "excluded_kinds"] == "negative_energy,throttled"
    by = CliRunner().invoke(report, [str(campaign), "--exclude-warned", "all", "--by", "batch_size"])
    assert by.exit_code == 0, by.output
    grouped = pd.read_csv(campaign / "aggregate" / "by_params.batch_size.csv")
    assert sorted(grouped["energy_per_output_token_j_n"]) == [3, 4]


def test_report_exclude_warned_unknown_kind_exits_2_listing_the_kinds(tmp_path: Path) -> None:
    result = CliRunner().invoke(report, [str(_warned_campaign(tmp_path)), "--exclude-warned", "hot"])
    assert result.exit_code == 2
    assert "'hot'" in result.output and "kinds present: negative_energy, throttled" in result.output
    assert "Traceback" not in result.output


def test_report_exclude_all_without_warnings_excludes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(report, [str(_campaign(tmp_path)), "--exclude-warned", "all"])
    assert result.exit_code == 0, result.output
    assert "no run carries a warning, nothing was excluded" in result.output

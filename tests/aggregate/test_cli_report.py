"""``camp report`` and ``camp compare`` through click's runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from scipy import stats as sps

from orchestrator.cli_report import compare, report
from tests.aggregate.helpers import write_experiment

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

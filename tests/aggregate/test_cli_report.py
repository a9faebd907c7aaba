"""``camp report`` and ``camp compare`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats as sps

from orchestrator.cli_report import compare, report
from orchestrator.report import formatting
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
    reference = sps.ttest_rel(fast, slow)  # B − A: fast − slow
    ci = reference.confidence_interval()
    line = next(line for line in result.output.splitlines() if line.startswith("energy per token"))
    assert " mJ/token " in line
    mj = formatting.format_number
    assert f"[{mj(ci.low * 1e3)}, {mj(ci.high * 1e3)}]" in line
    relative = (fast - slow).mean() / slow.mean()
    assert formatting.format_percent(relative) in line
    assert f"B vs A: {formatting.format_percent(relative)} energy per token, relative to A" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100
    assert f" {reference.pvalue:.3f} " in line or (reference.pvalue < 0.001 and " <0.001 " in line)
    assert line.rstrip().endswith(" 4")
    assert "paired t" in result.output


def _labelled_campaign(root: Path) -> Path:
    campaign = root / "demo"
    write_experiment(campaign, "3f2a9c1b0d4e", [10.0, 11.0, 10.5], batch_size=8)
    write_experiment(campaign, "3f7700aa11bb", [14.0, 15.5, 14.2], batch_size=1)
    write_experiment(campaign, "8e1d5566ccdd", [12.0, 12.5, 12.2], batch_size=4)
    return campaign


def test_compare_takes_unique_prefixes_and_labels(tmp_path: Path) -> None:
    campaign = _labelled_campaign(tmp_path)
    by_prefix = CliRunner().invoke(compare, [str(campaign), "3f7", "8e"])
    assert by_prefix.exit_code == 0, by_prefix.output
    assert by_prefix.output.startswith("A = 3f7700aa11bb  batch_size=1\nB = 8e1d5566ccdd  batch_size=4\n")
    by_label = CliRunner().invoke(compare, [str(campaign), "batch_size=1", "batch_size=4"])
    assert by_label.exit_code == 0 and by_label.output == by_prefix.output


def test_compare_ambiguous_or_unknown_names_the_candidates(tmp_path: Path) -> None:
    campaign = _labelled_campaign(tmp_path)
    ambiguous = CliRunner().invoke(compare, [str(campaign), "3f", "8e"])
    assert ambiguous.exit_code == 2
    assert "'3f' is a prefix of 2 exp_ids" in ambiguous.stderr
    assert (
        "3f2a9c1b0d4e (batch_size=8)" in ambiguous.stderr
        and "3f7700aa11bb (batch_size=1)" in ambiguous.stderr
    )
    assert "8e1d5566ccdd" not in ambiguous.stderr and "Traceback" not in ambiguous.output
    unknown = CliRunner().invoke(compare, [str(campaign), "nope", "8e"])
    assert unknown.exit_code == 2 and "no done experiment matches 'nope'" in unknown.stderr
    assert "8e1d5566ccdd (batch_size=4)" in unknown.stderr  # what there is to choose from


def test_compare_shows_both_configs_with_the_differing_fields_marked(tmp_path: Path) -> None:
    campaign = _labelled_campaign(tmp_path)
    lines = CliRunner().invoke(compare, [str(campaign), "3f7", "8e"]).output.splitlines()
    config = lines[lines.index(next(line for line in lines if "config" in line)) :]
    assert config[2].split() == ["≠", "params.batch_size", "1", "4"]  # first, and marked
    backend = next(line for line in config if " backend " in f" {line} ")
    assert backend.split() == ["backend", "stub", "stub"]  # the same in both: shown, not marked
    assert any("more fields, the same in both" in line for line in config)


def test_compare_json(tmp_path: Path) -> None:
    campaign = _labelled_campaign(tmp_path)
    result = CliRunner().invoke(compare, [str(campaign), "3f7", "batch_size=4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "compare" and doc["relative_to"] == "a" and doc["difference"] == "b - a"
    assert (doc["a"]["exp_id"], doc["b"]["exp_id"]) == ("3f7700aa11bb", "8e1d5566ccdd")
    assert doc["differing_fields"] == ["params.batch_size"]
    assert doc["a"]["config"]["params.batch_size"] == 1 and doc["b"]["config"]["params.batch_size"] == 4
    energy = doc["metrics"][0]
    assert energy["metric"] == "energy_per_output_token_j" and energy["unit"] == "J/token"
    a = (np.array([14.0, 15.5, 14.2]) - 4.0) / OUTPUT_TOKENS
    b = (np.array([12.0, 12.5, 12.2]) - 4.0) / OUTPUT_TOKENS
    assert energy["a_mean"] == pytest.approx(a.mean()) and energy["b_mean"] == pytest.approx(b.mean())
    assert energy["difference"] == pytest.approx((b - a).mean())
    assert energy["relative"] == pytest.approx((b - a).mean() / a.mean())
    assert energy["n"] == 3
    throughput = next(m for m in doc["metrics"] if m["metric"] == "throughput_tokens_per_s")
    assert throughput["p_value"] is None  # no variance: null, never NaN


def test_report_json_is_one_document_with_the_tables(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    result = CliRunner().invoke(report, [str(campaign), "--json", "--by", "batch_size"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["command"] == "report" and doc["report"] == str(campaign / "report" / "index.html")
    assert doc["runs"] == 9 and doc["unreadable"] == []
    fast = next(e for e in doc["experiments"] if e["exp_id"] == "fast")
    assert fast["energy_per_output_token_j_n"] == 4 and fast["params.batch_size"] == 8
    assert doc["by"]["fields"] == ["params.batch_size"]
    assert len(doc["by"]["rows"]) == 2
    assert Path(doc["report"]).is_file()


def test_compare_unknown_metric(tmp_path: Path) -> None:
    unknown_metric = CliRunner().invoke(
        compare, [str(_campaign(tmp_path)), "fast", "slow", "--metric", "joules"]
    )
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


def test_report_and_compare_take_a_campaign_by_name_as_status_does(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _campaign(results)
    by_name = CliRunner().invoke(report, ["demo", "--results-dir", str(results), "--json"])
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["campaign_dir"] == str(results / "demo")
    compared = CliRunner().invoke(compare, ["demo", "fast", "slow", "--results-dir", str(results), "--json"])
    assert compared.exit_code == 0, compared.output
    assert json.loads(compared.stdout)["campaign_dir"] == str(results / "demo")
    typo = CliRunner().invoke(report, ["dmeo", "--results-dir", str(results)])
    assert typo.exit_code == 2 and "Traceback" not in typo.output
    assert f"'dmeo' is no results directory, campaign file or campaign under {results}" in typo.output


def test_compare_by_the_settings_that_tell_one_experiment_apart(tmp_path: Path) -> None:
    """With batch_size and max_output_tokens both swept, `batch_size=1` alone names two; the two
    settings, in either order, name one."""
    campaign = tmp_path / "demo"
    for exp_id, batch, tokens in (("aa", 1, 16), ("bb", 1, 32), ("cc", 8, 16), ("dd", 8, 32)):
        write_experiment(campaign, f"{exp_id}00000000aa", [10.0 + batch, 11.0 + batch], batch_size=batch)
        for spec_path in (campaign / f"{exp_id}00000000aa").glob("c*/spec.json"):
            spec = json.loads(spec_path.read_text())
            spec["workload"]["max_output_tokens"] = tokens
            spec_path.write_text(json.dumps(spec))
    ambiguous = CliRunner().invoke(compare, [str(campaign), "batch_size=1", "batch_size=8"])
    assert ambiguous.exit_code == 2 and "'batch_size=1' is the label of 2 experiments" in ambiguous.output
    either_order = CliRunner().invoke(
        compare, [str(campaign), "max_output_tokens=16 batch_size=1", "batch_size=8 max_output_tokens=16"]
    )
    assert either_order.exit_code == 0, either_order.output
    assert either_order.output.startswith("A = aa00000000aa") and "\nB = cc00000000aa" in either_order.output

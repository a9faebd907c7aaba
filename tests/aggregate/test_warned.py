"""Warned runs are counted per experiment and per kind, shown in the summary and the report, and
left out of the intervals on request; undefined ratios (NaN) stay out of the means."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from camp_contract.layout import RESULT_FILENAME
from camp_contract.models import RunResult
from orchestrator import aggregate, stats, warned
from orchestrator.report import terminal, write_report
from tests.aggregate.helpers import add_warnings, make_spec, t_interval, write_experiment, write_run
from tests.factories import make_result

OUTPUT_TOKENS = 64
BASELINE_J = 4.0  # 2 W for 2 s: what make_result subtracts


def _per_token(energies: list[float]) -> np.ndarray:
    return (np.array(energies) - BASELINE_J) / OUTPUT_TOKENS


def _campaign(root: Path) -> Path:
    """a: 5 runs, 2 throttled (one also short_window); b: 3 runs, 1 negative_energy;
    c: 2 runs, both throttled."""
    campaign = root / "demo"
    a = write_experiment(campaign, "a", [10.0, 11.0, 12.0, 13.0, 14.0], batch_size=1)
    b = write_experiment(campaign, "b", [20.0, 21.0, 22.0], batch_size=2)
    c = write_experiment(campaign, "c", [30.0, 31.0], batch_size=4)
    add_warnings(a[0], "throttled")
    add_warnings(a[1], "throttled", "short_window")
    add_warnings(b[2], "negative_energy")
    add_warnings(c[0], "throttled")
    add_warnings(c[1], "throttled")
    return campaign


def _row(experiments: pd.DataFrame, exp_id: str) -> pd.Series:
    return experiments.set_index("exp_id").loc[exp_id]


def test_experiments_table_counts_warned_runs_per_experiment_and_kind(tmp_path: Path) -> None:
    tables = aggregate.aggregate_campaign(_campaign(tmp_path))
    a, b, c = (_row(tables.experiments, e) for e in "abc")
    assert (a["n_runs"], a["warned_runs"], a["excluded_runs"]) == (5, 2, 0)
    assert (a["warned.throttled"], a["warned.short_window"], a["warned.negative_energy"]) == (2, 1, 0)
    assert (b["warned_runs"], b["warned.negative_energy"]) == (1, 1)
    assert (c["n_runs"], c["warned_runs"], c["warned.throttled"]) == (2, 2, 2)
    assert set(tables.experiments[warned.EXCLUDED_KINDS_COLUMN]) == {""}
    # without exclusion every run is in the intervals, warned or not
    assert a["energy_per_output_token_j_n"] == 5
    assert not tables.runs["excluded"].any()
    on_disk = pd.read_csv(tmp_path / "demo" / "aggregate" / "experiments.csv")
    assert on_disk.set_index("exp_id").loc["a", "warned.throttled"] == 2
    listed = pd.read_csv(tmp_path / "demo" / "aggregate" / "warnings.csv")
    assert len(listed) == 6 and set(listed["kind"]) == {"throttled", "short_window", "negative_energy"}


def test_excluding_a_kind_recomputes_the_intervals_without_its_runs(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    for run_dir in aggregate.done_run_dirs(campaign):  # request latencies that tell runs apart
        result = RunResult.model_validate_json((run_dir / RESULT_FILENAME).read_bytes())
        cycle = result.cycle
        requests = tuple(r.model_copy(update={"latency_s": 0.1 + cycle}) for r in result.requests)
        (run_dir / RESULT_FILENAME).write_text(
            result.model_copy(update={"requests": requests}).model_dump_json()
        )
    tables = aggregate.aggregate_campaign(campaign, exclude_warned=["throttled"])
    assert tables.excluded_kinds == ("throttled",)
    a = _row(tables.experiments, "a")
    kept = _per_token([12.0, 13.0, 14.0])  # cycles 0 and 1 were throttled
    low, high = t_interval(kept)
    assert a["energy_per_output_token_j_mean"] == pytest.approx(kept.mean())
    assert (a["energy_per_output_token_j_low"], a["energy_per_output_token_j_high"]) == pytest.approx(
        (low, high)
    )
    assert (a["energy_per_output_token_j_n"], a["excluded_runs"], a["warned_runs"]) == (3, 2, 2)
    assert _row(tables.experiments, "b")["energy_per_output_token_j_n"] == 3  # negative_energy kept
    # an experiment with every run excluded keeps its row, with no interval
    c = _row(tables.experiments, "c")
    assert c["energy_per_output_token_j_n"] == 0 and math.isnan(c["energy_per_output_token_j_mean"])
    assert c["energy_per_output_token_j_method"] == stats.METHOD_EMPTY
    assert set(tables.experiments[warned.EXCLUDED_KINDS_COLUMN]) == {"throttled"}
    excluded = tables.runs.loc[tables.runs["excluded"], ["exp_id", "cycle"]]
    assert sorted(map(tuple, excluded.to_numpy().tolist())) == [("a", 0), ("a", 1), ("c", 0), ("c", 1)]
    # the per-request latencies of excluded runs are out too
    assert set(tables.requests.loc[tables.requests["exp_id"] == "a", "cycle"]) == {2, 3, 4}
    latency_a = tables.request_latency.set_index("exp_id").loc["a"]
    assert latency_a["request_latency_s_mean"] == pytest.approx(0.1 + 3.0)
    assert (latency_a["request_latency_s_n"], latency_a["requests"]) == (
        3,
        12,
    )  # n counts cycles, not pooled requests
    on_disk = pd.read_csv(campaign / "aggregate" / "runs.csv")
    assert on_disk["excluded"].sum() == 4 and len(on_disk) == 10  # every run stays in the table


def test_exclude_all_leaves_out_every_warned_run(tmp_path: Path) -> None:
    tables = aggregate.aggregate_campaign(_campaign(tmp_path), exclude_warned=["all"])
    assert tables.excluded_kinds == ("negative_energy", "short_window", "throttled")
    assert tables.runs["excluded"].sum() == 5
    assert _row(tables.experiments, "b")["energy_per_output_token_j_n"] == 2
    assert len(tables.kept_runs) == 5 and (tables.kept_runs["n_warnings"] == 0).all()


def test_an_unknown_kind_is_refused_with_the_kinds_present(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    with pytest.raises(warned.UnknownWarningKind) as raised:
        aggregate.aggregate_campaign(campaign, exclude_warned=["throtled"])
    message = str(raised.value)
    assert "'throtled'" in message and "did you mean 'throttled'?" in message
    assert "kinds present: negative_energy, short_window, throttled" in message and "all" in message


def test_undefined_j_per_token_is_left_out_of_the_mean_and_its_n(tmp_path: Path) -> None:
    """A run with no output tokens has J/token NaN (null in result.json): the mean is over the
    other runs and n says so; the run's other metrics still count."""
    campaign = tmp_path / "demo"
    dirs = write_experiment(campaign, "a", [10.0, 12.0])
    spec = make_spec("a", 2)
    result = make_result(spec, energy_j=11.0)
    metrics = result.metrics.model_copy(update={"output_tokens": 0, "energy_per_output_token_j": math.nan})
    run_dir = write_run(campaign, spec, result.model_copy(update={"metrics": metrics}))
    assert '"energy_per_output_token_j":null' in (run_dir / RESULT_FILENAME).read_text()
    tables = aggregate.aggregate_runs([*dirs, run_dir])
    row = _row(tables.experiments, "a")
    assert row["energy_per_output_token_j_n"] == 2
    assert row["energy_per_output_token_j_mean"] == pytest.approx(_per_token([10.0, 12.0]).mean())
    assert row["energy_per_request_j_n"] == 3


def test_summary_shows_warned_runs_per_experiment_and_per_kind(tmp_path: Path) -> None:
    text = terminal.format_campaign_summary(aggregate.aggregate_campaign(_campaign(tmp_path)))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= terminal.SUMMARY_WIDTH
    assert lines[0].rstrip().endswith("warned")
    for exp_id, cell in [("a", "2/5"), ("b", "1/3"), ("c", "2/2")]:
        (line,) = [line for line in lines if line.startswith(f"{exp_id} ")]
        assert line.rstrip().endswith(cell), line
    assert "⚠ 5 of 10 runs carry warnings: their numbers are in the intervals above" in text
    (throttled,) = [line for line in lines if line.strip().startswith("throttled ")]
    assert "4 runs in 2 experiments: a ×2, c ×2" in throttled
    assert "--exclude-warned KIND" in text


def test_summary_says_which_runs_were_excluded(tmp_path: Path) -> None:
    tables = aggregate.aggregate_campaign(_campaign(tmp_path), exclude_warned=["throttled"])
    text = terminal.format_campaign_summary(tables)
    lines = text.splitlines()
    assert re.search(r"warned\s+excl\.$", lines[0])
    (line_a,) = [line for line in lines if line.startswith("a ")]
    assert re.search(r"\s3\s+t\+\s+2/5\s+2$", line_a), line_a
    assert "the 4 runs with throttled are left out of the intervals above" in " ".join(text.split())
    (throttled,) = [line for line in lines if line.strip().startswith("throttled ")]
    assert "(excluded)" in throttled
    (short,) = [line for line in lines if line.strip().startswith("short_window ")]
    assert "1 excluded for another kind" in short


def test_summary_of_a_campaign_without_warnings_has_no_warnings_block(tmp_path: Path) -> None:
    write_experiment(tmp_path / "demo", "a", [10.0, 11.0])
    text = terminal.format_campaign_summary(aggregate.aggregate_campaign(tmp_path / "demo"))
    assert "⚠" not in text and "warned" in text.splitlines()[0]


def test_html_report_marks_warned_runs_and_groups_them_by_kind(tmp_path: Path) -> None:
    campaign = _campaign(tmp_path)
    tables = aggregate.aggregate_campaign(campaign, exclude_warned=["throttled"])
    page = write_report(campaign, tables).read_text()
    assert "⚠ 5 of 10 runs carry warnings" in page
    assert "⚠ 2/5: throttled×2, short_window×1" in page and "⚠ 1/3: negative_energy×1" in page
    headings = re.findall(r"<h3>⚠ ([a-z_]+): ([^<]+)</h3>", page)
    assert headings == [
        ("throttled", "4 runs in 2 experiments, excluded from the intervals"),
        ("negative_energy", "1 run in 1 experiment, in the intervals"),
        ("short_window", "1 run in 1 experiment, 1 excluded for another kind"),
    ]
    assert page.count("throttled happened") == 4
    assert "warnings.csv" in page


def test_html_report_when_every_run_is_excluded(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    (run_dir,) = write_experiment(campaign, "a", [10.0])
    add_warnings(run_dir, "throttled")
    tables = aggregate.aggregate_campaign(campaign, exclude_warned=["throttled"])
    page = write_report(campaign, tables).read_text()
    assert "Every run was excluded" in page and "<h3>⚠ throttled" in page
    assert "<img" not in page

"""``camp report --by FIELD``: intervals per value of a config field, with the right unit."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats as sps

from orchestrator import aggregate, grouping, stats
from orchestrator.cli_report import report
from tests.aggregate.helpers import write_experiment

OUTPUT_TOKENS = 64
BASELINE_J = 4.0  # what make_result's idle baseline takes off each run's energy


def _per_token(energies: list[float]) -> np.ndarray:
    return (np.array(energies) - BASELINE_J) / OUTPUT_TOKENS


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    low, high = sps.t.interval(
        stats.t_level(len(values)), len(values) - 1, loc=values.mean(), scale=sps.sem(values)
    )
    return float(low), float(high)


def _runs(campaign: Path) -> pd.DataFrame:
    return aggregate.runs_table(aggregate.done_run_dirs(campaign))


A = [10.0, 11.0, 10.5]
B = [14.0, 15.5, 14.2]
C = [20.0, 21.0, 20.4]


def test_one_experiment_per_group_takes_the_interval_over_cycles(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", A, batch_size=1)
    write_experiment(tmp_path, "c", C, batch_size=8)
    grouped = grouping.grouped_summary(_runs(tmp_path), ["batch_size"])
    assert grouped.by == ["params.batch_size"] and grouped.unit == grouping.UNIT_CYCLES
    row = grouped.table.set_index("params.batch_size").loc[8]
    low, high = _t_interval(_per_token(C))
    assert row["energy_per_output_token_j_n"] == 3 and row["experiments"] == 1
    assert math.isclose(row["energy_per_output_token_j_low"], low, rel_tol=1e-9)
    assert math.isclose(row["energy_per_output_token_j_high"], high, rel_tol=1e-9)


def test_a_group_pooling_experiments_takes_the_interval_over_their_means(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", A, batch_size=1, work_ms_per_token=0.1)
    write_experiment(tmp_path, "b", B, batch_size=1, work_ms_per_token=0.2)
    write_experiment(tmp_path, "c", C, batch_size=8, work_ms_per_token=0.1)
    grouped = grouping.grouped_summary(_runs(tmp_path), ["params.batch_size"])
    assert grouped.unit == grouping.UNIT_EXPERIMENTS
    table = grouped.table.set_index("params.batch_size")
    means = np.array([_per_token(A).mean(), _per_token(B).mean()])
    low, high = _t_interval(means)
    pooled = table.loc[1]
    assert pooled["experiments"] == 2 and pooled["energy_per_output_token_j_n"] == 2
    assert math.isclose(pooled["energy_per_output_token_j_mean"], means.mean(), rel_tol=1e-12)
    assert math.isclose(pooled["energy_per_output_token_j_low"], low, rel_tol=1e-9)
    assert math.isclose(pooled["energy_per_output_token_j_high"], high, rel_tol=1e-9)
    # Six runs treated as independent repeats would give a far narrower, wrong interval.
    naive_low, _ = _t_interval(np.concatenate([_per_token(A), _per_token(B)]))
    assert naive_low > low
    alone = table.loc[8]
    assert alone["energy_per_output_token_j_n"] == 1
    assert alone["energy_per_output_token_j_method"] == "n=1: no interval"


def test_two_fields_group_on_their_combinations(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", A, batch_size=1, work_ms_per_token=0.1)
    write_experiment(tmp_path, "b", B, batch_size=1, work_ms_per_token=0.2)
    grouped = grouping.grouped_summary(_runs(tmp_path), ["batch_size", "work_ms_per_token"])
    assert grouped.unit == grouping.UNIT_CYCLES
    assert len(grouped.table) == 2


def test_groups_sort_by_value_and_a_field_a_backend_lacks_is_its_own_group(tmp_path: Path) -> None:
    for exp_id, work_ms in (("w2", 2.0), ("w16", 16.0), ("w4", 4.0)):
        write_experiment(tmp_path, exp_id, A, work_ms_per_token=work_ms)
    write_experiment(tmp_path, "torch", B, backend="pytorch", dtype="float32")  # no work_ms_per_token
    grouped = grouping.grouped_summary(_runs(tmp_path), ["work_ms_per_token"])
    values = list(grouped.table["params.work_ms_per_token"])
    assert values[:3] == [2.0, 4.0, 16.0] and pd.isna(values[3])
    assert grouped.table["experiments"].tolist() == [1, 1, 1, 1]
    assert grouped.table["energy_per_output_token_j_n"].tolist() == [3, 3, 3, 3]


def test_an_unknown_or_ambiguous_field_is_named_with_the_fix(tmp_path: Path) -> None:
    write_experiment(tmp_path, "a", A, batch_size=1)
    runs = _runs(tmp_path)
    with pytest.raises(grouping.UnknownField, match=r"did you mean 'params.batch_size'"):
        grouping.resolve_fields(runs, ["params.batch_sise"])
    runs["workload.batch_size"] = 1  # two config columns now end in batch_size
    with pytest.raises(grouping.UnknownField, match=r"ambiguous.*params\.batch_size"):
        grouping.resolve_fields(runs, ["batch_size"])


def test_cli_prints_the_grouped_table_and_writes_it(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    write_experiment(campaign, "a", A, batch_size=1, work_ms_per_token=0.1)
    write_experiment(campaign, "b", B, batch_size=1, work_ms_per_token=0.2)
    write_experiment(campaign, "c", C, batch_size=8, work_ms_per_token=0.1)
    result = CliRunner().invoke(report, [str(campaign), "--by", "batch_size"])
    assert result.exit_code == 0, result.output
    grouped_part = result.output.split("by params.batch_size:")[1]
    assert "n counts experiments" in grouped_part
    assert max(len(line) for line in result.output.splitlines()) <= 100
    written = pd.read_csv(campaign / "aggregate" / "by_params.batch_size.csv")
    assert list(written["experiments"]) == [2, 1]


def test_cli_unknown_field_exits_2_without_a_traceback(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    write_experiment(campaign, "a", A, batch_size=1)
    result = CliRunner().invoke(report, [str(campaign), "--by", "batchsize"])
    assert result.exit_code == 2
    assert "did you mean 'params.batch_size'" in result.output
    assert "Traceback" not in result.output

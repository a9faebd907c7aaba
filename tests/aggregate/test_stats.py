"""Intervals checked against independent references: statsmodels for t, scipy for BCa and paired t."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.weightstats import DescrStatsW

from orchestrator import stats


def _frame(groups: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(name, value) for name, values in groups.items() for value in values], columns=["exp_id", "value"]
    )


def _scipy_bca(values: np.ndarray, *, n_resamples: int = stats.N_RESAMPLES) -> tuple[float, float]:
    result = sps.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        vectorized=True,
        method="BCa",
        confidence_level=0.95,
        rng=np.random.default_rng(stats.SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def test_student_t_intervals_match_statsmodels_for_every_group_at_once() -> None:
    rng = np.random.default_rng(7)
    groups = {f"g{n}": list(rng.normal(10, 2, n)) for n in range(2, 10)}
    table = stats.summarise(_frame(groups), "value").set_index("exp_id")
    for name, values in groups.items():
        low, high = DescrStatsW(np.array(values)).tconfint_mean(alpha=0.05)
        row = table.loc[name]
        assert row["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert (row["low"], row["high"]) == pytest.approx((low, high), rel=1e-10)
        assert row["n"] == len(values)
        assert row["method"] == stats.METHOD_T


def test_other_confidence_levels_match_statsmodels() -> None:
    values = [3.1, 2.9, 3.4, 3.0, 2.7]
    interval = stats.interval_of_mean(values, confidence=0.9)
    assert (interval.low, interval.high) == pytest.approx(
        DescrStatsW(np.array(values)).tconfint_mean(alpha=0.1)
    )


def test_bca_for_n_of_ten_or_more_equals_scipy_bootstrap_called_directly() -> None:
    rng = np.random.default_rng(3)
    groups = {
        "a": list(rng.lognormal(0, 0.5, 12)),
        "b": list(rng.lognormal(1, 0.3, 12)),  # same n: bootstrapped in one stacked call with "a"
        "c": list(rng.gamma(2.0, 1.0, 15)),
    }
    table = stats.summarise(_frame(groups), "value").set_index("exp_id")
    for name, values in groups.items():
        low, high = _scipy_bca(np.array(values))
        assert (table.loc[name, "low"], table.loc[name, "high"]) == pytest.approx((low, high), rel=1e-9)
        assert table.loc[name, "method"] == stats.METHOD_BCA
        assert table.loc[name, "n"] == len(values)


def test_bca_is_the_same_when_groups_are_split_into_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    groups = {f"g{i}": list(rng.exponential(1.0, 10)) for i in range(5)}
    whole = stats.summarise(_frame(groups), "value", n_resamples=999)
    monkeypatch.setattr(stats, "_BOOTSTRAP_CHUNK_ELEMENTS", 1)  # one group per scipy call
    chunked = stats.summarise(_frame(groups), "value", n_resamples=999)
    pd.testing.assert_frame_equal(whole, chunked, rtol=1e-12)
    low, high = _scipy_bca(np.array(groups["g3"]), n_resamples=999)
    assert (chunked.loc[3, "low"], chunked.loc[3, "high"]) == pytest.approx((low, high), rel=1e-9)


def test_single_observation_has_no_interval_and_says_so() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = stats.interval_of_mean([4.2])
    assert interval.mean == 4.2
    assert np.isnan(interval.low) and np.isnan(interval.high)
    assert interval.n == 1
    assert interval.method == stats.METHOD_SINGLE


@pytest.mark.parametrize(
    ("n", "method"), [(3, stats.METHOD_T), (12, stats.METHOD_BCA), (40, stats.METHOD_BCA)]
)
@pytest.mark.parametrize("value", [0.5, 0.1])  # 0.1 × 40 has a rounding std of ~1e-17 in pandas
def test_zero_variance_gives_a_zero_width_interval_without_warnings(
    n: int, method: str, value: float
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = stats.interval_of_mean([value] * n)
    assert (interval.mean, interval.low, interval.high) == (value, value, value)
    assert interval.method == method + stats.ZERO_VARIANCE


def test_empty_sample_and_nan_values() -> None:
    assert stats.interval_of_mean([]).method == stats.METHOD_EMPTY
    interval = stats.interval_of_mean([1.0, float("nan"), 3.0])
    assert interval.n == 2
    assert interval.mean == 2.0


def test_grouping_by_a_config_field_pools_the_runs_of_that_value() -> None:
    runs = pd.DataFrame(
        {
            "exp_id": ["a", "a", "b", "b", "c", "c"],
            "params.batch_size": [1, 1, 1, 1, 8, 8],
            "energy": [1.0, 1.2, 1.4, 1.1, 0.3, 0.35],
        }
    )
    table = stats.summarise(runs, "energy", by=["params.batch_size"]).set_index("params.batch_size")
    low, high = DescrStatsW(np.array([1.0, 1.2, 1.4, 1.1])).tconfint_mean()
    assert table.loc[1, "n"] == 4
    assert (table.loc[1, "low"], table.loc[1, "high"]) == pytest.approx((low, high))
    assert table.loc[8, "mean"] == pytest.approx(0.325)


def test_grouping_by_an_unknown_field_names_the_available_columns() -> None:
    with pytest.raises(KeyError, match=r"params\.bach_size.*available: exp_id"):
        stats.summarise(pd.DataFrame({"exp_id": ["a"], "energy": [1.0]}), "energy", by=["params.bach_size"])


def test_experiment_summary_has_every_metric_with_n_and_method() -> None:
    runs = pd.DataFrame({"exp_id": ["a", "a", "b"], "x": [1.0, 2.0, 5.0], "y": [3.0, 3.0, 1.0]})
    table = stats.experiment_summary(runs, ["x", "y"]).set_index("exp_id")
    assert table.loc["a", "x_mean"] == 1.5
    assert table.loc["a", "y_method"] == stats.METHOD_T + stats.ZERO_VARIANCE
    assert table.loc["b", "x_method"] == stats.METHOD_SINGLE
    assert table.loc["b", "x_n"] == 1


def test_paired_comparison_matches_scipy_and_statsmodels() -> None:
    a = pd.Series([10.2, 11.1, 9.8, 10.7, 10.4], index=range(5))
    b = pd.Series([9.1, 10.4, 9.5, 9.6, 9.9, 42.0], index=range(6))  # cycle 5 has no partner: dropped
    result = stats.paired_comparison(a, b, "energy")
    diff = a.to_numpy() - b.to_numpy()[:5]
    reference = sps.ttest_rel(a.to_numpy(), b.to_numpy()[:5])
    assert result.n == 5
    assert result.mean_diff == pytest.approx(diff.mean())
    assert (result.low, result.high) == pytest.approx(DescrStatsW(diff).tconfint_mean())
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.t_statistic == pytest.approx(reference.statistic)
    assert result.relative_diff == pytest.approx(diff.mean() / b.to_numpy()[:5].mean())
    assert result.method == stats.METHOD_PAIRED_T


def test_paired_comparison_with_constant_difference_or_one_pair() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = stats.paired_comparison(pd.Series([2.0, 3.0, 4.0]), pd.Series([1.0, 2.0, 3.0]), "x")
        single = stats.paired_comparison(pd.Series([2.0]), pd.Series([1.0]), "x")
    assert (constant.low, constant.high, constant.mean_diff) == (1.0, 1.0, 1.0)
    assert constant.method == stats.METHOD_PAIRED_T + stats.ZERO_VARIANCE
    assert single.n == 1 and np.isnan(single.low)


def test_pareto_front_on_a_hand_made_set() -> None:
    # (throughput ↑, energy ↓)
    points = [
        (100, 1.0),  # front: cheapest
        (200, 2.0),  # front
        (150, 2.5),  # dominated by (200, 2.0)
        (300, 4.0),  # front: fastest
        (300, 5.0),  # dominated by (300, 4.0): same speed, more energy
        (90, 1.0),  # dominated by (100, 1.0): same energy, slower
        (200, 2.0),  # duplicate of a front point: kept as well
        (float("nan"), 0.1),  # incomplete: never on the front
    ]
    throughput, energy = zip(*points, strict=True)
    mask = stats.pareto_front(np.array(throughput), np.array(energy))
    assert mask.tolist() == [True, True, False, True, False, False, True, False]


def test_pareto_front_of_nothing() -> None:
    assert stats.pareto_front(np.array([]), np.array([])).tolist() == []

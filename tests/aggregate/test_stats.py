"""Intervals checked against independent references: statsmodels for t, a plain per-group
bootstrap-t (every ordered resample, or scipy's draws) for bootstrap-t, scipy for paired t."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.weightstats import DescrStatsW

from orchestrator import stats
from tests.aggregate.helpers import t_interval


def _frame(groups: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(name, value) for name, values in groups.items() for value in values], columns=["exp_id", "value"]
    )


def _reference_bootstrap_t(values: np.ndarray, resamples: np.ndarray) -> tuple[float, float]:
    """One group, one resample (a row of indices) at a time, all equally likely: the textbook
    equal-tailed bootstrap-t with the inverse-distribution-function quantile."""
    n = len(values)
    se = values.std() / math.sqrt(n)
    pivots = []
    for index in resamples:
        drawn = values[index]
        spread = drawn.std()
        shift = drawn.mean() - values.mean()
        pivots.append(
            shift / (spread / math.sqrt(n))
            if spread > 1e-9 * values.std()
            else math.copysign(math.inf, shift)
        )
    low_q, high_q = np.quantile(np.array(pivots), [0.025, 0.975], method="inverted_cdf")
    return values.mean() - high_q * se, values.mean() - low_q * se


def test_student_t_intervals_match_statsmodels_for_every_group_at_once() -> None:
    rng = np.random.default_rng(7)
    groups = {f"g{n}": list(rng.normal(10, 2, n)) for n in range(2, 10)}
    # Forced for every n here; by default only n < BOOTSTRAP_T_MIN_N gets it.
    table = stats.summarise(_frame(groups), "value", bootstrap_min_n=100).set_index("exp_id")
    for name, values in groups.items():
        low, high = t_interval(values)
        row = table.loc[name]
        assert row["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert (row["low"], row["high"]) == pytest.approx((low, high), rel=1e-10)
        assert row["n"] == len(values)
        assert row["method"] == (stats.METHOD_T_WIDENED if len(values) == 3 else stats.METHOD_T)


def test_the_method_follows_n() -> None:
    rng = np.random.default_rng(8)
    groups = {f"g{n:02d}": list(rng.normal(10, 2, n)) for n in (1, 2, 3, 4, 5, 9, 12)}
    table = stats.summarise(_frame(groups), "value").set_index("exp_id")
    assert table["method"].to_dict() == {
        "g01": stats.METHOD_SINGLE,
        "g02": stats.METHOD_T,
        "g03": stats.METHOD_T_WIDENED,
        "g04": stats.METHOD_BOOTSTRAP_T,
        "g05": stats.METHOD_BOOTSTRAP_T,
        "g09": stats.METHOD_BOOTSTRAP_T,
        "g12": stats.METHOD_BOOTSTRAP_T,
    }
    assert [stats.method_for(n) for n in (0, 1, 3, 4, 100)] == [
        stats.METHOD_EMPTY,
        stats.METHOD_SINGLE,
        stats.METHOD_T_WIDENED,
        stats.METHOD_BOOTSTRAP_T,
        stats.METHOD_BOOTSTRAP_T,
    ]


def test_other_confidence_levels_match_statsmodels() -> None:
    values = [3.1, 2.9, 3.4]
    interval = stats.interval_of_mean(values, confidence=0.9)
    assert (interval.low, interval.high) == pytest.approx(t_interval(values, confidence=0.9))


def test_resamples_are_enumerated_while_fewer_than_the_draws_then_drawn() -> None:
    # C(2n−1, n) distinct resamples: 6435 at n = 8, 24310 at n = 9 (more than 9999 draws).
    assert stats.exact_bootstrap_max_n() == 8
    counts, probabilities = stats.bootstrap_resamples(4)
    assert counts.shape == (4, 35) and probabilities.sum() == pytest.approx(1.0)
    assert (counts.sum(axis=0) == 4).all()
    # The four resamples repeating one value have probability 1/4⁴ each.
    assert sorted(probabilities)[:4] == pytest.approx([1 / 256] * 4)
    counts, probabilities = stats.bootstrap_resamples(9)
    assert counts.shape == (9, stats.N_RESAMPLES) and (probabilities == 1 / stats.N_RESAMPLES).all()


@pytest.mark.parametrize("n", [4, 5])
def test_exact_bootstrap_t_equals_every_ordered_resample_taken_one_by_one(n: int) -> None:
    rng = np.random.default_rng(n)
    groups = {f"g{i}": list(rng.lognormal(0, 0.5, n)) for i in range(3)}  # stacked in one matrix
    table = stats.summarise(_frame(groups), "value").set_index("exp_id")
    every_resample = np.array(list(itertools.product(range(n), repeat=n)))  # nⁿ, equally likely
    for name, values in groups.items():
        low, high = _reference_bootstrap_t(np.array(values), every_resample)
        assert (table.loc[name, "low"], table.loc[name, "high"]) == pytest.approx((low, high), rel=1e-9)
        assert table.loc[name, "method"] == stats.METHOD_BOOTSTRAP_T


def test_drawn_bootstrap_t_uses_scipys_draws_and_equals_the_per_group_reference() -> None:
    rng = np.random.default_rng(3)
    groups = {
        "a": list(rng.lognormal(0, 0.5, 12)),
        "b": list(rng.lognormal(1, 0.3, 12)),  # same n: bootstrapped in one stacked call with "a"
        "c": list(rng.gamma(2.0, 1.0, 15)),
    }
    table = stats.summarise(_frame(groups), "value").set_index("exp_id")
    for name, values in groups.items():
        n = len(values)
        draws = np.random.default_rng(stats.SEED).integers(0, n, (stats.N_RESAMPLES, n))
        low, high = _reference_bootstrap_t(np.array(values), draws)
        assert (table.loc[name, "low"], table.loc[name, "high"]) == pytest.approx((low, high), rel=1e-9)
        assert table.loc[name, "n"] == n


def test_bootstrap_t_is_the_same_when_groups_are_split_into_small_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    groups = {f"g{i}": list(rng.exponential(1.0, n)) for i, n in enumerate([5, 5, 5, 10, 10])}
    whole = stats.summarise(_frame(groups), "value", n_resamples=999)
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 1)  # one group per block
    chunked = stats.summarise(_frame(groups), "value", n_resamples=999)
    pd.testing.assert_frame_equal(whole, chunked, rtol=1e-12)


def test_bootstrap_t_does_not_depend_on_units() -> None:
    values = np.array([3.1, 2.7, 3.9, 3.3, 5.2])
    base = stats.interval_of_mean(values)
    scaled = stats.interval_of_mean(1e-6 * values + 7.0)
    assert (scaled.low, scaled.high) == pytest.approx(
        (1e-6 * base.low + 7.0, 1e-6 * base.high + 7.0), rel=1e-12
    )


def test_tied_values_that_leave_bootstrap_t_undefined_keep_student_t_and_say_so() -> None:
    # A third of the resamples repeat the value 1.0: an infinite pivot fills the lower tail.
    values = [1.0, 1.0, 1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = stats.interval_of_mean(values)
    low, high = DescrStatsW(np.array(values)).tconfint_mean()
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.method == stats.METHOD_T + stats.BOOTSTRAP_T_UNDEFINED


def test_a_resample_repeating_the_mean_value_has_pivot_zero_without_warnings() -> None:
    # 10…14: the resample of five 12s repeats the sample's own mean, a shift of exactly 0.
    values = np.array([[10.0, 11.0, 12.0, 13.0, 14.0]])
    standardised, _, _ = stats.standardise(values)
    counts, _ = stats.bootstrap_resamples(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        means, pivots = stats.studentized_resamples(standardised, counts)
        interval = stats.interval_of_mean(values[0])
    all_twelves = int(np.flatnonzero(counts[2] == 5)[0])
    assert means[0, all_twelves] == 0.0 and pivots[0, all_twelves] == 0.0
    all_tens = int(np.flatnonzero(counts[0] == 5)[0])
    assert pivots[0, all_tens] == -np.inf
    assert interval.method == stats.METHOD_BOOTSTRAP_T  # such resamples are too rare to fill a tail
    assert interval.low < 12.0 < interval.high


def test_single_observation_has_no_interval_and_says_so() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interval = stats.interval_of_mean([4.2])
    assert interval.mean == 4.2
    assert np.isnan(interval.low) and np.isnan(interval.high)
    assert interval.n == 1
    assert interval.method == stats.METHOD_SINGLE


@pytest.mark.parametrize(
    ("n", "method"),
    [(3, stats.METHOD_T_WIDENED), (4, stats.METHOD_BOOTSTRAP_T), (40, stats.METHOD_BOOTSTRAP_T)],
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
            "exp_id": ["a", "a", "b", "c", "c"],
            "params.batch_size": [1, 1, 1, 8, 8],
            "energy": [1.0, 1.2, 1.4, 0.3, 0.35],
        }
    )
    table = stats.summarise(runs, "energy", by=["params.batch_size"]).set_index("params.batch_size")
    low, high = t_interval([1.0, 1.2, 1.4])
    assert table.loc[1, "n"] == 3
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

"""Confidence intervals a researcher can cite: every interval carries its n and the method.

The method depends on n only, and was chosen from measured coverage
(``benchmarks/interval_coverage.py``, docs/measurement.md "Confidence intervals"): every method
camp reports must cover the true mean at least 93 % of the time for near-normal cycles (3 % CV)
and for strongly skewed ones (lognormal σ = 0.5), wherever any usable method does.

- n ≤ 3: Student-t. Bootstrap-t is infinite there (at n = 3 a ninth of the resamples repeat
  one value) and percentile/BCa bootstraps cover far less. At n = 3 Student-t covers skewed
  data only ~92 %, so there its quantile is taken at a higher level (``WIDENED_T_LEVELS``: 96 %
  for a 95 % interval, 13 % wider), the least that reaches 93 % in the benchmark; the method
  says so ("student-t, widened").
- n ≥ ``BOOTSTRAP_T_MIN_N``: bootstrap-t (studentized bootstrap, equal-tailed). Student-t
  under-covers skewed data up to n ≈ 15, BCa and percentile under-cover even normal data up
  to n ≈ 20.
  Up to ``exact_bootstrap_max_n()`` cycles every distinct resample is enumerated with its
  probability (exact, no random numbers); above, ``N_RESAMPLES`` resamples from a fixed seed.

One observation has no interval (NaN, and the method says so); zero variance gives a zero-width
interval, named as such. A bootstrap-t whose pivot is infinite (tied values: a resample of one
repeated value has no spread) keeps the Student-t interval and says so. Everything is
vectorised over groups: t intervals in one pass, the bootstrap once per distinct n in row chunks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats: the same t quantile (``stats.t.ppf`` is ``stdtrit``) for a
# fifth of the import time, which every `camp report` and `camp run` summary pays.
from scipy.special import gammaln, stdtrit

CONFIDENCE = 0.95
BOOTSTRAP_T_MIN_N = 4
N_RESAMPLES = 9999
SEED = 0
# Elements of one rows × resamples block: small enough to stay in the CPU cache.
_CHUNK_ELEMENTS = 250_000
# A resample whose variance (in units of the sample's own) is below this repeats one value.
_DEGENERATE_VARIANCE = 1e-12

METHOD_T = "student-t"
METHOD_T_WIDENED = "student-t, widened"
# n → the level whose t quantile a 95 % interval uses at that n (for another confidence c, the
# same share of 1 − c): where Student-t under-covers skewed cycles and no bootstrap is usable.
WIDENED_T_LEVELS = {3: 0.96}
METHOD_BOOTSTRAP_T = "bootstrap-t"
METHOD_SINGLE = "n=1: no interval"
METHOD_EMPTY = "no data"
ZERO_VARIANCE = " (zero variance)"
BOOTSTRAP_T_UNDEFINED = " (bootstrap-t undefined: tied values)"
METHOD_PAIRED_T = "paired t"

SUMMARY_COLUMNS = ("mean", "low", "high", "n", "method")


@dataclass(frozen=True)
class Interval:
    """The mean of a sample with its interval, sample size and how the interval was made."""

    mean: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = CONFIDENCE


def method_for(n: int, *, bootstrap_min_n: int = BOOTSTRAP_T_MIN_N) -> str:
    """The interval method camp uses for a sample of ``n`` varying values."""
    if n <= 0:
        return METHOD_EMPTY
    if n == 1:
        return METHOD_SINGLE
    if n >= bootstrap_min_n:
        return METHOD_BOOTSTRAP_T
    return METHOD_T_WIDENED if n in WIDENED_T_LEVELS else METHOD_T


def t_level(n: int, confidence: float = CONFIDENCE) -> float:
    """The level of the t quantile camp's Student-t interval of ``n`` values uses."""
    widened = WIDENED_T_LEVELS.get(n)
    if widened is None:
        return confidence
    return 1 - (1 - confidence) * (1 - widened) / (1 - CONFIDENCE)


def exact_bootstrap_max_n(n_resamples: int = N_RESAMPLES) -> int:
    """The largest n whose distinct resamples, C(2n−1, n), are no more than ``n_resamples``:
    up to it, enumerating them all is both exact and cheaper than drawing."""
    n = 1
    while math.comb(2 * (n + 1) - 1, n + 1) <= n_resamples:
        n += 1
    return n


@lru_cache(maxsize=16)
def bootstrap_resamples(
    n: int, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The resamples of a sample of ``n`` as counts (n × resamples: how often each observation
    is drawn; contiguous in this orientation, which the matrix products need to be fast) and
    their probabilities.

    Up to ``exact_bootstrap_max_n`` every distinct resample with its multinomial probability;
    above, ``n_resamples`` draws of equal weight from ``default_rng(seed)`` — the very indices
    ``scipy.stats.bootstrap`` draws with that generator.
    """
    if n <= exact_bootstrap_max_n(n_resamples):
        combos = np.array(list(itertools.combinations_with_replacement(range(n), n)))
        counts = np.zeros((len(combos), n))
        np.add.at(counts, (np.arange(len(combos))[:, None], combos), 1.0)
        log_p = gammaln(n + 1) - gammaln(counts + 1).sum(axis=1) - n * math.log(n)
        probabilities = np.exp(log_p)
    else:
        draws = np.random.default_rng(seed).integers(0, n, (n_resamples, n))
        counts = np.zeros((n_resamples, n))
        np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
        probabilities = np.full(n_resamples, 1.0 / n_resamples)
    counts = np.ascontiguousarray(counts.T)
    counts.setflags(write=False)
    probabilities.setflags(write=False)
    return counts, probabilities


def studentized_resamples(standardised: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and studentized pivot, (mean − 0) / standard error, of every resample (``counts``
    from ``bootstrap_resamples``) of every row of a standardised matrix (rows of mean 0, ddof-0
    sd 1): rows × resamples each.

    A resample repeating one value has no spread: its pivot is ±inf (0 where its mean is 0 too,
    as when the repeated value is the sample's own mean).
    """
    n = standardised.shape[1]
    # einsum, not BLAS: these products are small, and a threaded BLAS can spend 10–50× their
    # time starting threads on a busy machine.
    means = np.einsum("rn,nk->rk", standardised, counts)
    means *= 1 / n
    pivots = np.einsum("rn,nk->rk", standardised * standardised, counts)
    pivots *= 1 / n
    pivots -= means * means  # the resample variance (ddof 0)
    degenerate = pivots <= _DEGENERATE_VARIANCE
    pivots *= 1 / n
    np.sqrt(pivots, out=pivots, where=~degenerate)
    np.divide(means, pivots, out=pivots, where=~degenerate)
    if degenerate.any():
        shift = means[degenerate]
        still = np.abs(shift) <= math.sqrt(_DEGENERATE_VARIANCE)
        # copysign, not sign × inf: a shift of exactly 0 (the repeated value is the mean) would
        # make 0 × inf = NaN before np.where discards it, with a RuntimeWarning.
        pivots[degenerate] = np.where(still, 0.0, np.copysign(np.inf, shift))
    return means, pivots


def weighted_quantiles(
    values: np.ndarray, probabilities: np.ndarray, levels: Sequence[float]
) -> list[np.ndarray]:
    """Per row of ``values``, the smallest value whose cumulative probability reaches each level
    (the inverse of the distribution function; ``inverted_cdf`` for equal weights)."""
    size = values.shape[1]
    if np.all(probabilities == probabilities[0]):
        ordered = np.sort(values, axis=1)
        ranks = [min(size - 1, max(0, math.ceil(level * size - 1e-9) - 1)) for level in levels]
        return [ordered[:, rank] for rank in ranks]
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)
    cumulative = np.cumsum(probabilities[order], axis=1)
    rows = np.arange(len(values))
    return [ordered[rows, np.minimum((cumulative < level - 1e-12).sum(axis=1), size - 1)] for level in levels]


def standardise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows shifted to mean 0 and scaled to ddof-0 sd 1, with each row's mean and that sd."""
    mean = matrix.mean(axis=1)
    spread = matrix.std(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (matrix - mean[:, None]) / spread[:, None], mean, spread


def rows_per_chunk(n_resamples: int) -> int:
    """Rows bootstrapped together: a rows × resamples matrix that stays in the CPU cache is several
    times faster than one large pass."""
    return max(1, _CHUNK_ELEMENTS // n_resamples)


def bootstrap_t_rows(
    matrix: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed bootstrap-t intervals of the mean of every row: mean − q̂(1−α/2)·se,
    mean − q̂(α/2)·se, with q̂ the quantiles of the resamples' studentized pivots.

    The pivot is invariant to location and scale, so rows are standardised first (the moments
    stay well conditioned). Where resamples of one repeated value fill a tail (tied values), a
    bound is infinite: the caller treats that as undefined. Rows without spread give NaN.
    """
    n = matrix.shape[1]
    counts, probabilities = bootstrap_resamples(n, n_resamples, seed)
    standardised, mean, spread = standardise(matrix)
    standard_error = spread / math.sqrt(n)
    low = np.full(len(matrix), np.nan)
    high = np.full(len(matrix), np.nan)
    alpha = (1 - confidence) / 2
    step = rows_per_chunk(len(probabilities))
    for begin in range(0, len(matrix), step):
        part = slice(begin, begin + step)
        _, pivots = studentized_resamples(standardised[part], counts)
        lower_q, upper_q = weighted_quantiles(pivots, probabilities, (alpha, 1 - alpha))
        with np.errstate(invalid="ignore"):
            low[part] = mean[part] - upper_q * standard_error[part]
            high[part] = mean[part] - lower_q * standard_error[part]
    low[spread == 0] = high[spread == 0] = np.nan
    return low, high


def interval_of_mean(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    bootstrap_min_n: int = BOOTSTRAP_T_MIN_N,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """The interval of the mean of one sample (NaNs dropped)."""
    frame = pd.DataFrame({"group": 0, "value": np.asarray(values, dtype=float)})
    table = summarise(
        frame,
        "value",
        by=["group"],
        confidence=confidence,
        bootstrap_min_n=bootstrap_min_n,
        n_resamples=n_resamples,
        seed=seed,
    )
    if table.empty:
        return Interval(float("nan"), float("nan"), float("nan"), 0, METHOD_EMPTY, confidence)
    row = table.iloc[0]
    return Interval(
        float(row["mean"]),
        float(row["low"]),
        float(row["high"]),
        int(row["n"]),
        str(row["method"]),
        confidence,
    )


def summarise(
    frame: pd.DataFrame,
    value: str,
    *,
    by: Sequence[str] = ("exp_id",),
    confidence: float = CONFIDENCE,
    bootstrap_min_n: int = BOOTSTRAP_T_MIN_N,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """Mean, interval, n and method of ``value`` for every group of ``by`` (any columns).

    Rows whose value is NaN do not count towards n. Groups come out in sorted order of ``by``.
    """
    by = list(by)
    missing = [c for c in [*by, value] if c not in frame.columns]
    if missing:
        raise KeyError(
            f"no column {', '.join(map(repr, missing))} in the runs table; "
            f"available: {', '.join(map(str, frame.columns))}"
        )
    data = frame.loc[frame[value].notna(), [*by, value]]
    values = data[value].to_numpy(dtype=float)
    grouped = data.groupby(by, sort=True, dropna=False, observed=True)[value]
    agg = grouped.agg(["mean", "std", "count", "min", "max"])
    codes = grouped.ngroup().to_numpy()
    n = agg["count"].to_numpy(dtype=np.int64)
    mean = agg["mean"].to_numpy(dtype=float)
    # Exactly equal values can still give a std of 1e-17 from rounding: decide on min == max.
    constant = (agg["min"] == agg["max"]).to_numpy()
    std = np.where(constant, 0.0, agg["std"].to_numpy(dtype=float))  # ddof=1; NaN for n=1
    mean = np.where(constant, agg["min"].to_numpy(dtype=float), mean)
    low, high, method = _t_intervals(mean, std, n, confidence)
    zero = (n >= bootstrap_min_n) & (std == 0)
    method[zero] = METHOD_BOOTSTRAP_T + ZERO_VARIANCE

    boot_rows = np.flatnonzero((n >= bootstrap_min_n) & (std > 0))
    if boot_rows.size:
        order = np.argsort(codes, kind="stable")
        sorted_values = values[order]
        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        for size in np.unique(n[boot_rows]):
            rows = boot_rows[n[boot_rows] == size]
            matrix = sorted_values[starts[rows, None] + np.arange(size)[None, :]]
            boot_low, boot_high = bootstrap_t_rows(
                matrix, confidence=confidence, n_resamples=n_resamples, seed=seed
            )
            good = np.isfinite(boot_low) & np.isfinite(boot_high)
            low[rows[good]] = boot_low[good]
            high[rows[good]] = boot_high[good]
            method[rows[good]] = METHOD_BOOTSTRAP_T
            method[rows[~good]] = METHOD_T + BOOTSTRAP_T_UNDEFINED

    out = agg.index.to_frame(index=False)
    out["mean"] = mean
    out["low"] = low
    out["high"] = high
    out["n"] = n
    out["method"] = method
    return out


def _t_intervals(
    mean: np.ndarray, std: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Student-t intervals for all groups at once; n=1 → NaN, zero variance → zero width."""
    low = np.full(mean.shape, np.nan)
    high = np.full(mean.shape, np.nan)
    method = np.full(mean.shape, METHOD_SINGLE, dtype=object)
    method[n == 0] = METHOD_EMPTY
    ok = n >= 2
    if ok.any():
        levels = np.array([t_level(int(k), confidence) for k in n[ok]])
        quantile = stdtrit(n[ok] - 1, (1 + levels) / 2)
        half = quantile * std[ok] / np.sqrt(n[ok])
        low[ok] = mean[ok] - half
        high[ok] = mean[ok] + half
        zero = std[ok] == 0
        names = np.array([METHOD_T_WIDENED if int(k) in WIDENED_T_LEVELS else METHOD_T for k in n[ok]])
        method[np.flatnonzero(ok)] = np.where(zero, names + ZERO_VARIANCE, names)
    return low, high, method


def experiment_summary(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by: Sequence[str] = ("exp_id",),
    confidence: float = CONFIDENCE,
    bootstrap_min_n: int = BOOTSTRAP_T_MIN_N,
    seed: int = SEED,
) -> pd.DataFrame:
    """One row per group of ``by`` with ``<metric>_mean/_low/_high/_n/_method`` for each metric."""
    merged: pd.DataFrame | None = None
    for metric in metrics:
        table = summarise(
            runs, metric, by=by, confidence=confidence, bootstrap_min_n=bootstrap_min_n, seed=seed
        ).rename(columns={c: f"{metric}_{c}" for c in SUMMARY_COLUMNS})
        merged = table if merged is None else merged.merge(table, on=list(by), how="outer")
    if merged is None:
        return pd.DataFrame(columns=list(by))
    return merged


@dataclass(frozen=True)
class PairedComparison:
    """``a − b`` over the cycles both experiments completed, paired by cycle."""

    metric: str
    mean_a: float
    mean_b: float
    mean_diff: float
    low: float
    high: float
    relative_diff: float  # mean_diff / mean_b
    t_statistic: float
    p_value: float
    n: int
    method: str


def paired_comparison(
    a: pd.Series, b: pd.Series, metric: str, *, confidence: float = CONFIDENCE
) -> PairedComparison:
    """Paired t test of ``a − b``; ``a`` and ``b`` are indexed by cycle, unpaired cycles dropped."""
    pairs = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    n = len(pairs)
    mean_a, mean_b = (float(pairs[c].mean()) if n else float("nan") for c in ("a", "b"))
    diff = (pairs["a"] - pairs["b"]).to_numpy(dtype=float)
    mean_diff = float(diff.mean()) if n else float("nan")
    relative = mean_diff / mean_b if n and mean_b != 0 else float("nan")
    nan = float("nan")
    if n < 2:
        method = METHOD_EMPTY if n == 0 else f"{METHOD_PAIRED_T}: {METHOD_SINGLE}"
        return PairedComparison(metric, mean_a, mean_b, mean_diff, nan, nan, relative, nan, nan, n, method)
    if np.all(diff == diff[0]):
        return PairedComparison(
            metric,
            mean_a,
            mean_b,
            mean_diff,
            mean_diff,
            mean_diff,
            relative,
            nan,
            nan,
            n,
            METHOD_PAIRED_T + ZERO_VARIANCE,
        )
    from scipy.stats import ttest_rel  # only `camp compare` needs it

    test = ttest_rel(pairs["a"].to_numpy(dtype=float), pairs["b"].to_numpy(dtype=float))
    ci = test.confidence_interval(confidence_level=confidence)
    return PairedComparison(
        metric,
        mean_a,
        mean_b,
        mean_diff,
        float(ci.low),
        float(ci.high),
        relative,
        float(test.statistic),
        float(test.pvalue),
        n,
        METHOD_PAIRED_T,
    )


def pareto_front(throughput: np.ndarray | pd.Series, energy: np.ndarray | pd.Series) -> np.ndarray:
    """Boolean mask of the points no other point beats: higher throughput AND lower energy.

    A point is dominated when another is at least as good on both axes and strictly better on
    one; identical points are all kept. NaN points are never on the front.
    """
    t = np.asarray(throughput, dtype=float)
    e = np.asarray(energy, dtype=float)
    mask = np.zeros(t.shape, dtype=bool)
    finite = np.flatnonzero(np.isfinite(t) & np.isfinite(e))
    if finite.size == 0:
        return mask
    pairs, inverse = np.unique(np.column_stack([e[finite], -t[finite]]), axis=0, return_inverse=True)
    # Sorted by energy ascending, then throughput descending: a unique point is on the front
    # exactly when its throughput beats every point with lower-or-equal energy before it.
    unique_t = -pairs[:, 1]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(unique_t)[:-1]])
    on_front = unique_t > best_before
    mask[finite] = on_front[inverse.ravel()]
    return mask

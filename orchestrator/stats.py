"""Confidence intervals a researcher can cite: every interval carries its n and the method.

Cycles of one experiment are few (typically 3–5), so the mean gets a Student-t interval; from
``BOOTSTRAP_MIN_N`` observations on, and for per-request statistics (many skewed latencies), a BCa
bootstrap (``scipy.stats.bootstrap``) with a fixed seed, so a report is reproducible bit for bit.
One observation has no interval (NaN, and the method says so); zero variance gives a zero-width
interval, named as such, instead of a warning or a NaN. Everything is vectorised over groups:
t intervals in one pass, the bootstrap once per distinct sample size in row chunks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

CONFIDENCE = 0.95
BOOTSTRAP_MIN_N = 10
N_RESAMPLES = 9999
SEED = 0
# Upper bound on the elements of one bootstrap call (rows × resamples × n): keeps memory flat.
_BOOTSTRAP_CHUNK_ELEMENTS = 8_000_000

METHOD_T = "student-t"
METHOD_BCA = "BCa bootstrap"
METHOD_SINGLE = "n=1: no interval"
METHOD_EMPTY = "no data"
ZERO_VARIANCE = " (zero variance)"
BCA_DEGENERATE = " (BCa degenerate)"
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


def interval_of_mean(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    bootstrap_min_n: int = BOOTSTRAP_MIN_N,
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
    bootstrap_min_n: int = BOOTSTRAP_MIN_N,
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

    boot_rows = np.flatnonzero(n >= bootstrap_min_n)
    if boot_rows.size:
        order = np.argsort(codes, kind="stable")
        sorted_values = values[order]
        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        _bca_into(low, high, method, sorted_values, starts, n, std, boot_rows, confidence, n_resamples, seed)

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
        quantile = sps.t.ppf((1 + confidence) / 2, n[ok] - 1)
        half = quantile * std[ok] / np.sqrt(n[ok])
        low[ok] = mean[ok] - half
        high[ok] = mean[ok] + half
        zero = std[ok] == 0
        method[np.flatnonzero(ok)] = np.where(zero, METHOD_T + ZERO_VARIANCE, METHOD_T)
    return low, high, method


def _bca_into(
    low: np.ndarray,
    high: np.ndarray,
    method: np.ndarray,
    sorted_values: np.ndarray,
    starts: np.ndarray,
    n: np.ndarray,
    std: np.ndarray,
    rows: np.ndarray,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> None:
    """Replace the intervals of ``rows`` by BCa bootstrap intervals (in place).

    Groups of one size are stacked into a matrix and bootstrapped together; every call starts
    from a fresh ``default_rng(seed)``, so each group's interval equals a direct
    ``scipy.stats.bootstrap`` call on that group alone with the same seed.
    """
    constant = rows[std[rows] == 0]
    low[constant] = high[constant] = sorted_values[starts[constant]]
    method[constant] = METHOD_BCA + ZERO_VARIANCE
    varying = rows[std[rows] > 0]
    for size in np.unique(n[varying]):
        same_size = varying[n[varying] == size]
        chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // (int(size) * n_resamples))
        # A single huge group (thousands of pooled requests) is resampled in batches instead.
        batch = None if chunk > 1 else max(1, _BOOTSTRAP_CHUNK_ELEMENTS // int(size))
        for begin in range(0, same_size.size, chunk):
            group_rows = same_size[begin : begin + chunk]
            matrix = sorted_values[starts[group_rows, None] + np.arange(size)[None, :]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sps.DegenerateDataWarning)
                result = sps.bootstrap(
                    (matrix,),
                    np.mean,
                    n_resamples=n_resamples,
                    batch=batch,
                    vectorized=True,
                    axis=-1,
                    confidence_level=confidence,
                    method="BCa",
                    rng=np.random.default_rng(seed),
                )
            boot_low = np.atleast_1d(result.confidence_interval.low)
            boot_high = np.atleast_1d(result.confidence_interval.high)
            good = np.isfinite(boot_low) & np.isfinite(boot_high)
            low[group_rows[good]] = boot_low[good]
            high[group_rows[good]] = boot_high[good]
            method[group_rows[good]] = METHOD_BCA
            # A BCa failure (e.g. almost all values equal) keeps the t interval, and says so.
            method[group_rows[~good]] = METHOD_T + BCA_DEGENERATE


def experiment_summary(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by: Sequence[str] = ("exp_id",),
    confidence: float = CONFIDENCE,
    bootstrap_min_n: int = BOOTSTRAP_MIN_N,
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
    test = sps.ttest_rel(pairs["a"].to_numpy(dtype=float), pairs["b"].to_numpy(dtype=float))
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

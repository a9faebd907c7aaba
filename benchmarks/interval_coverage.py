"""How often does a "95 %" interval of the mean hold the true mean? Simulated experiments say.

For every distribution × number of cycles n, many experiments with a known mean are simulated;
each interval method is applied to each, and its coverage (the share holding the true mean) and
median width are printed. The distributions: cycle-to-cycle noise as camp usually sees it (normal,
3 % CV) and a strongly skewed one (lognormal σ = 0.5, skewness 1.75). The candidates:

  student-t       mean ± t(n−1)·s/√n
  johnson-t       Student-t shifted by Johnson's (1978) skewness correction
  percentile      percentile bootstrap
  BCa             bias-corrected and accelerated bootstrap (camp's method for n ≥ 10 until now)
  bootstrap-t     equal-tailed studentized bootstrap
  sym boot-t      symmetric studentized bootstrap (quantile of |pivot|)

All bootstraps use camp's resamples (``stats.bootstrap_resamples``: every distinct resample up to
n = 8, else 9999 seeded draws). "camp" is ``stats.summarise`` run end to end on the same
experiments: what camp reports, with the method ``stats.method_for(n)`` picks.

Verdict per n: camp's method must cover ≥ 93 % in every distribution ("ok"). Below that, it is
a "caveat" when no usable method (finite intervals in ≥ 99 % of experiments) covers more by over
two Monte Carlo standard errors, and a "FAIL" when one does; the exit status is 1 on a FAIL.
A last table compares latency intervals: the old one over every request of every cycle pooled,
and camp's over per-cycle means.

Run: .venv/bin/python benchmarks/interval_coverage.py [--reps R] [--n 3 5 10 ...] [--quick]
"""

from __future__ import annotations

import os

# Many small matrix products: BLAS threads only add overhead (and contend on a shared machine).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats as sps  # noqa: E402
from scipy.special import ndtr, ndtri  # noqa: E402

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers"),
]

from orchestrator import aggregate, stats  # noqa: E402

THRESHOLD = 0.93
USABLE_FINITE = 0.99  # a method with infinite intervals more often than this gives no interval
N_VALUES = (2, 3, 4, 5, 6, 8, 10, 15, 20, 30)
DEFAULT_REPS = 20_000
# The names of camp's own two are its method labels, so its choice maps onto a column.
METHODS = (
    stats.METHOD_T,
    stats.METHOD_T_WIDENED,
    "johnson-t",
    "percentile",
    "BCa",
    stats.METHOD_BOOTSTRAP_T,
    "sym boot-t",
)
CAMP = "camp"
Sampler = Callable[[np.random.Generator, int, int], np.ndarray]


@dataclass(frozen=True)
class Distribution:
    name: str
    sample: Sampler  # (rng, experiments, n) → experiments × n
    mean: float


LOGNORMAL_SIGMA = 0.5
DISTRIBUTIONS = (
    Distribution("normal 3% CV", lambda rng, r, n: rng.normal(1.0, 0.03, (r, n)), 1.0),
    Distribution(
        "lognormal σ=0.5",
        lambda rng, r, n: rng.lognormal(0.0, LOGNORMAL_SIGMA, (r, n)),
        math.exp(LOGNORMAL_SIGMA**2 / 2),
    ),
)


# ---------------------------------------------------------------- candidate intervals


def _row_quantiles(ordered: np.ndarray, cumulative: np.ndarray | None, levels: np.ndarray) -> np.ndarray:
    """Per row, the quantile at that row's level: linear interpolation for equal weights (as
    ``scipy.stats.bootstrap`` takes it), the inverse distribution function for weighted ones."""
    rows = np.arange(len(ordered))
    size = ordered.shape[1]
    if cumulative is None:
        position = np.clip(levels, 0.0, 1.0) * (size - 1)
        below = np.floor(position).astype(int)
        above = np.minimum(below + 1, size - 1)
        fraction = position - below
        return ordered[rows, below] + fraction * (ordered[rows, above] - ordered[rows, below])
    rank = np.minimum((cumulative < levels[:, None] - 1e-12).sum(axis=1), size - 1)
    return ordered[rows, rank]


def candidate_intervals(
    matrix: np.ndarray, confidence: float = stats.CONFIDENCE
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every candidate's interval for every row (one simulated experiment) of ``matrix``."""
    rows, n = matrix.shape
    alpha = (1 - confidence) / 2
    mean = matrix.mean(axis=1)
    sd = matrix.std(axis=1, ddof=1)
    se = sd / math.sqrt(n)
    t_quantile = sps.t.ppf(1 - alpha, n - 1)
    # The widened Student-t at any n: its quantile at the level camp uses where it widens.
    widened_level = 1 - (1 - confidence) * (1 - stats.WIDENED_T_LEVELS[3]) / (1 - stats.CONFIDENCE)
    wide_quantile = sps.t.ppf((1 + widened_level) / 2, n - 1)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {
        stats.METHOD_T: (mean - t_quantile * se, mean + t_quantile * se),
        stats.METHOD_T_WIDENED: (mean - wide_quantile * se, mean + wide_quantile * se),
    }
    if n > 2:
        third = ((matrix - mean[:, None]) ** 3).sum(axis=1) * n / ((n - 1) * (n - 2))
        shifted = mean + third / (6 * sd**2 * n)
        out["johnson-t"] = (shifted - t_quantile * se, shifted + t_quantile * se)
    else:
        out["johnson-t"] = (np.full(rows, np.nan), np.full(rows, np.nan))

    counts, probabilities = stats.bootstrap_resamples(n)
    equal = bool(np.all(probabilities == probabilities[0]))
    standardised, _, spread = stats.standardise(matrix)
    se0 = spread / math.sqrt(n)
    # Jackknife acceleration of the mean (scale-free: computed on the standardised rows).
    jackknife = (standardised.sum(axis=1, keepdims=True) - standardised) / (n - 1)
    u = (n - 1) * (jackknife.mean(axis=1, keepdims=True) - jackknife)
    acceleration = (u**3).sum(axis=1) / n**3 / 6 / ((u**2).sum(axis=1) / n**2) ** 1.5
    z_alpha = ndtri(alpha)

    names = (
        "percentile",
        "BCa",
        stats.METHOD_BOOTSTRAP_T,
        "sym boot-t",
    )
    bounds = {name: (np.empty(rows), np.empty(rows)) for name in names}
    step = stats.rows_per_chunk(len(probabilities))
    for begin in range(0, rows, step):
        part = slice(begin, begin + step)
        means, pivots = stats.studentized_resamples(standardised[part], counts)
        low_t, high_t = stats.weighted_quantiles(pivots, probabilities, (alpha, 1 - alpha))
        (symmetric,) = stats.weighted_quantiles(np.abs(pivots), probabilities, (confidence,))
        order = np.argsort(means, axis=1)
        ordered = np.take_along_axis(means, order, axis=1)
        cumulative = None if equal else np.cumsum(probabilities[order], axis=1)
        below = means < 0  # resample mean below the sample mean
        if equal:
            score = (below.sum(axis=1) + (means <= 0).sum(axis=1)) / (2 * means.shape[1])
        else:
            score = (below @ probabilities + (means <= 0) @ probabilities) / 2
        z0 = ndtri(score)
        a = acceleration[part]
        level_low = ndtr(z0 + (z0 + z_alpha) / (1 - a * (z0 + z_alpha)))
        level_high = ndtr(z0 + (z0 - z_alpha) / (1 - a * (z0 - z_alpha)))
        flat = np.full(len(ordered), alpha)
        centre, scale, se_part = mean[part], spread[part], se0[part]
        with np.errstate(invalid="ignore"):
            for name, levels in (("percentile", (flat, 1 - flat)), ("BCa", (level_low, level_high))):
                for side, level in enumerate(levels):
                    bounds[name][side][part] = centre + scale * _row_quantiles(ordered, cumulative, level)
            bounds[stats.METHOD_BOOTSTRAP_T][0][part] = centre - high_t * se_part
            bounds[stats.METHOD_BOOTSTRAP_T][1][part] = centre - low_t * se_part
            bounds["sym boot-t"][0][part] = centre - symmetric * se_part
            bounds["sym boot-t"][1][part] = centre + symmetric * se_part
    out.update(bounds)
    return out


def camp_intervals(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """What camp reports for each row, through ``stats.summarise`` as aggregation calls it."""
    rows, n = matrix.shape
    frame = pd.DataFrame({"exp_id": np.repeat(np.arange(rows), n), "value": matrix.ravel()})
    table = stats.summarise(frame, "value")
    return table["low"].to_numpy(), table["high"].to_numpy(), sorted(set(table["method"]))


# ---------------------------------------------------------------- simulation


@dataclass(frozen=True)
class Cell:
    coverage: dict[str, float]
    width: dict[str, float]  # median width / true mean
    usable: dict[str, bool]
    camp_methods: list[str]
    reps: int


def simulate(distribution: Distribution, n: int, reps: int, rng: np.random.Generator) -> Cell:
    matrix = distribution.sample(rng, reps, n)
    intervals = candidate_intervals(matrix)
    low, high, camp_methods = camp_intervals(matrix)
    intervals[CAMP] = (low, high)
    if camp_methods == [stats.method_for(n)]:  # the candidate of that name is camp's own interval
        candidate_low, candidate_high = intervals[stats.method_for(n)]
        np.testing.assert_allclose(low, candidate_low, rtol=1e-9)
        np.testing.assert_allclose(high, candidate_high, rtol=1e-9)
    coverage, width, usable = {}, {}, {}
    for name, (lo, hi) in intervals.items():
        finite = np.isfinite(lo) & np.isfinite(hi)
        holds = (lo <= distribution.mean) & (distribution.mean <= hi)
        coverage[name] = float(holds.mean())
        usable[name] = bool(finite.mean() >= USABLE_FINITE)
        width[name] = float(np.median((hi - lo) / distribution.mean)) if usable[name] else math.inf
    return Cell(coverage, width, usable, camp_methods, reps)


def standard_error(p: float, reps: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / reps)


def _width(column: str) -> int:
    """A table column as wide as its name, at least 11."""
    return max(11, len(column))


# ---------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    n: int
    method: str
    worst: float  # camp's lowest coverage over the distributions
    reaching: list[str]  # usable candidates at ≥ THRESHOLD in every distribution
    status: str  # "ok", "caveat" or "FAIL"
    note: str


def verdict(n: int, cells: dict[str, Cell]) -> Verdict:
    method = stats.method_for(n)
    worst = min(cell.coverage[CAMP] for cell in cells.values())
    reps = min(cell.reps for cell in cells.values())

    def worst_of(name: str) -> float:
        if not all(cell.usable[name] for cell in cells.values()):
            return -1.0
        return min(cell.coverage[name] for cell in cells.values())

    reaching = [m for m in METHODS if worst_of(m) >= THRESHOLD]
    if worst >= THRESHOLD:
        return Verdict(n, method, worst, reaching, "ok", "")
    best = max(METHODS, key=worst_of)
    if worst_of(best) - worst > 2 * standard_error(worst, reps):
        note = f"{best} covers more: {100 * worst_of(best):.1f} %"
        return Verdict(n, method, worst, reaching, "FAIL", note)
    return Verdict(
        n, method, worst, reaching, "caveat", "below 93 %; no usable method covers more by over 2 SE"
    )


# ---------------------------------------------------------------- latency: pooled vs per cycle


def latency_coverage(reps: int, cycles: int, requests: int, rng: np.random.Generator) -> tuple[float, float]:
    """Coverage of the old pooled-request BCa interval and of camp's per-cycle one, for
    latencies = cycle effect (lognormal, 5 %) × request noise (lognormal, 20 %)."""
    cycle_sigma, request_sigma = 0.05, 0.2
    true_mean = math.exp(cycle_sigma**2 / 2 + request_sigma**2 / 2)
    cycle_effect = rng.lognormal(0.0, cycle_sigma, (reps, cycles, 1))
    latencies = cycle_effect * rng.lognormal(0.0, request_sigma, (reps, cycles, requests))
    pooled_low, pooled_high = candidate_intervals(latencies.reshape(reps, cycles * requests))["BCa"]
    frame = pd.DataFrame(
        {
            "exp_id": np.repeat(np.arange(reps), cycles * requests),
            "cycle": np.tile(np.repeat(np.arange(cycles), requests), reps),
            "request": np.tile(np.arange(requests), reps * cycles),
            "latency_s": latencies.ravel(),
        }
    )
    table = aggregate.request_latency_frame(frame)
    assert (table["request_latency_s_n"] == cycles).all(), "latency intervals must count cycles"
    pooled = float(((pooled_low <= true_mean) & (true_mean <= pooled_high)).mean())
    per_cycle = float(
        (
            (table["request_latency_s_low"] <= true_mean) & (true_mean <= table["request_latency_s_high"])
        ).mean()
    )
    return pooled, per_cycle


# ---------------------------------------------------------------- checks and printing


def check_against_scipy(rng: np.random.Generator) -> None:
    """The BCa and percentile candidates are scipy.stats.bootstrap itself (same resamples)."""
    matrix = rng.lognormal(0.0, 0.5, (3, 20))
    ours = candidate_intervals(matrix)
    for method, name in (("BCa", "BCa"), ("percentile", "percentile")):
        ref = sps.bootstrap(
            (matrix,),
            np.mean,
            n_resamples=stats.N_RESAMPLES,
            vectorized=True,
            axis=-1,
            method=method,
            rng=np.random.default_rng(stats.SEED),
        ).confidence_interval
        np.testing.assert_allclose(ours[name][0], ref.low, rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(ours[name][1], ref.high, rtol=1e-9, err_msg=name)


def _cell_text(value: float, usable: bool, scale: float = 100.0) -> str:
    return f"{scale * value:.1f}" if usable else "∞"


def print_table(title: str, cells: dict[tuple[str, int], Cell], field: str) -> None:
    columns = [*METHODS, CAMP]
    print(f"\n{title}")
    header = (
        f"{'distribution':<16} {'n':>3} " + " ".join(f"{c:>{_width(c)}}" for c in columns) + "   camp method"
    )
    print(header)
    print("-" * len(header))
    for (dist, n), cell in cells.items():
        values = getattr(cell, field)
        text = " ".join(f"{_cell_text(values[c], cell.usable[c]):>{_width(c)}}" for c in columns)
        print(f"{dist:<16} {n:>3} {text}   {', '.join(cell.camp_methods)}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS, help="simulated experiments per cell")
    parser.add_argument("--n", type=int, nargs="+", default=list(N_VALUES), help="cycles per experiment")
    parser.add_argument("--quick", action="store_true", help="2000 reps, n = 3 5 10 (a smoke run)")
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args()
    reps, n_values = (2000, [3, 5, 10]) if args.quick else (args.reps, args.n)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    check_against_scipy(rng)

    cells: dict[tuple[str, int], Cell] = {}
    for distribution in DISTRIBUTIONS:
        for n in n_values:
            cells[(distribution.name, n)] = simulate(distribution, n, reps, rng)
    worst_se = max(standard_error(cell.coverage[CAMP], reps) for cell in cells.values())
    print(
        f"95 % intervals of the mean: {reps} simulated experiments per row, seed {args.seed}; "
        f"Monte Carlo SE of a coverage ≤ {100 * worst_se:.2f} pp"
    )
    print_table("coverage (%): share of intervals holding the true mean", cells, "coverage")
    print_table("median width (% of the true mean); ∞: infinite in > 1 % of experiments", cells, "width")

    print(f"\ncamp's method per n (must cover ≥ {100 * THRESHOLD:.0f} % in every distribution)")
    print(f"{'n':>3}  {'camp uses':<18} {'worst %':>7}  {'status':<7} methods reaching 93 % everywhere")
    failed = False
    for n in n_values:
        result = verdict(n, {dist.name: cells[(dist.name, n)] for dist in DISTRIBUTIONS})
        failed |= result.status == "FAIL"
        reaching = "; ".join(result.reaching) or "none"
        note = f"  ({result.note})" if result.note else ""
        print(f"{n:>3}  {result.method:<18} {100 * result.worst:>7.1f}  {result.status:<7} {reaching}{note}")

    latency_reps = max(500, reps // 10)
    pooled, per_cycle = latency_coverage(latency_reps, cycles=5, requests=32, rng=rng)
    print(
        f"\nmean request latency, 5 cycles × 32 requests, cycle effect 5 % × request noise 20 % "
        f"({latency_reps} experiments):\n"
        f"  pooled requests, BCa (camp before): {100 * pooled:5.1f} % coverage\n"
        f"  per-cycle means, n = cycles (camp): {100 * per_cycle:5.1f} % coverage"
    )
    print(f"\n{time.perf_counter() - started:.0f} s")
    if failed:
        print("FAIL: a method camp uses covers less than it must (see the status column)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The report's methods paragraph: how the numbers on the page were made, in the words a paper's
methods section needs — the idle baseline, the energy estimator, the interval method at each n,
whether warned runs are in the intervals, and which camp code measured. Every count is read from
the runs and experiments shown, never assumed."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from orchestrator import stats
from orchestrator.report.formatting import ENERGY

BASELINE_METHODS = {
    "bare_idle": "bare idle (GPUs switched on, no CUDA context)",
    "cuda_context": "idle with a CUDA context held",
    "synthetic": "synthetic (no GPU: the synthetic power source)",
    "disabled": "none subtracted (baseline disabled)",
}
ESTIMATORS = {
    "counter": "the GPU energy counter's delta",
    "counter_refined": "the energy counter refined at the window's edges by sampled power",
    "integration": "sampled power integrated over the window",
}
_MIN_N = stats.BOOTSTRAP_T_MIN_N
INTERVAL_RULE = (
    "Intervals are 95% intervals of the mean over cycles (n = cycles; for request latency, each "
    f"cycle's mean latency is one observation): Student-t for n < {_MIN_N}, bootstrap-t "
    f"(studentized bootstrap: every resample enumerated up to n = {stats.exact_bootstrap_max_n()}, "
    f"else {stats.N_RESAMPLES} resamples, seed {stats.SEED}) from n = {_MIN_N}. Chosen per n for "
    "covering the true mean at least 93% of the time for near-normal and for skewed cycles in "
    "benchmarks/interval_coverage.py; with 3 cycles Student-t does so only with its quantile taken at "
    f"{100 * stats.WIDENED_T_LEVELS[3]:.0f}% (t+: widened), as no bootstrap is usable there; prefer 4 or "
    "more cycles for figures you cite. n=1 has no interval; zero variance gives a "
    "zero-width interval; t* = Student-t where tied values leave bootstrap-t undefined."
)


def counted(values: Iterable[object], names: dict[str, str] | None = None, noun: str = "run") -> str:
    """``bare idle (…) for 10 runs, integration for 2 runs``: each value (named by ``names``)
    with how many rows have it, most first; missing values counted as ``unknown``."""
    series = pd.Series([v if isinstance(v, str) and v else "unknown" for v in values], dtype="object")
    counts = series.value_counts(sort=True)
    return ", ".join(
        f"{(names or {}).get(str(value), str(value))} for {n} {noun}{'s' if n != 1 else ''}"
        for value, n in counts.items()
    )


def interval_methods(experiments: pd.DataFrame) -> str:
    """Which interval method the energy column used at each n: ``n = 3: student-t, widened (6
    experiments)``."""
    if experiments.empty or f"{ENERGY}_n" not in experiments.columns:
        return ""
    methods = experiments[f"{ENERGY}_method"].fillna(stats.METHOD_EMPTY).astype(str)
    methods = methods.str.replace(stats.ZERO_VARIANCE, "", regex=False)
    table = pd.DataFrame({"n": experiments[f"{ENERGY}_n"].astype(int), "method": methods})
    parts = []
    for (n, method), group in table.groupby(["n", "method"], sort=True):
        parts.append(f"n = {n}: {method} ({len(group)} experiment{'s' if len(group) != 1 else ''})")
    return "; ".join(parts)


def methods_paragraph(
    runs: pd.DataFrame, experiments: pd.DataFrame, excluded_kinds: tuple[str, ...]
) -> tuple[str, ...]:
    """The paragraph's sentences, for the runs of the page (``runs``: every done run, with its
    ``excluded`` mark) and the experiments whose intervals it shows."""
    kept = runs[~runs["excluded"]] if "excluded" in runs.columns else runs
    sentences = []
    if "baseline_method" in kept.columns:
        cached = (
            int(kept["baseline_cached"].fillna(False).astype(bool).sum()) if "baseline_cached" in kept else 0
        )
        reuse = f" ({cached} of them reused from the idle-baseline cache)" if cached else ""
        sentences.append(
            "Idle baseline (subtracted for the adjusted energy): "
            f"{counted(kept['baseline_method'], BASELINE_METHODS)}{reuse}."
        )
    if "energy_method" in kept.columns:
        sentences.append(f"Energy of the measured window: {counted(kept['energy_method'], ESTIMATORS)}.")
    per_n = interval_methods(experiments)
    if per_n:
        sentences.append(f"Energy-per-token intervals by n: {per_n}.")
    sentences.append(INTERVAL_RULE)
    n_warned = int((runs["n_warnings"] > 0).sum()) if "n_warnings" in runs.columns else 0
    n_out = int(runs["excluded"].sum()) if "excluded" in runs.columns else 0
    if n_out:
        sentences.append(
            f"Warned runs: {n_out} with {', '.join(excluded_kinds)} excluded from every interval and plot "
            f"(camp report --exclude-warned); {n_warned - n_out} other warned runs included."
        )
    elif n_warned:
        sentences.append(f"Warned runs: all {n_warned} included in the intervals (none excluded).")
    else:
        sentences.append("Warned runs: none.")
    if "camp_version" in runs.columns:
        revisions = (
            runs["source_revision"].fillna("unknown")
            if "source_revision" in runs
            else ["unknown"] * len(runs)
        )
        versions = runs["camp_version"].fillna("unknown")
        builds = [f"camp {v} at revision {r}" for v, r in zip(versions, revisions, strict=True)]
        sentences.append(f"Measured by {counted(builds)}.")
    return tuple(sentences)

"""What a researcher reads: the terminal summary after ``camp run`` and the HTML report.

The report (``results/<campaign>/report/index.html``) holds the per-experiment table with
intervals, energy per token against each swept parameter, throughput against energy with the
Pareto front, and the power trace of one run with its measured window shaded. Every file is
written atomically; plots use matplotlib's Agg backend, so no display is needed.
"""

from __future__ import annotations

import html
import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from camp_contract import layout
from camp_contract import timeseries as ts
from camp_contract.atomic import atomic_write_text, atomic_write_with
from orchestrator import aggregate, grouping, stats, warned

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENERGY = "energy_per_output_token_j"
THROUGHPUT = "throughput_tokens_per_s"
SUMMARY_WIDTH = 100
SUMMARY_MAX_ROWS = 60
# Okabe–Ito: distinguishable in colour-blind vision and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MAX_SERIES = len(PALETTE)
MAX_CATEGORIES = 16
MAX_PARETO_LABELS = 4
MAX_WARNING_ROWS = 200  # per kind in the HTML report; warnings.csv has them all
_SHORT_METHOD = {
    stats.METHOD_T: "t",
    stats.METHOD_T + stats.ZERO_VARIANCE: "t,sd=0",
    stats.METHOD_T + stats.BCA_DEGENERATE: "t*",
    stats.METHOD_BCA: "BCa",
    stats.METHOD_BCA + stats.ZERO_VARIANCE: "BCa,sd=0",
    stats.METHOD_SINGLE: "n=1",
    stats.METHOD_EMPTY: "-",
}
_MIN_N, _RESAMPLES = stats.BOOTSTRAP_MIN_N, stats.N_RESAMPLES
METHODS_NOTE = (
    f"Intervals are 95% intervals of the mean over cycles: Student-t for n < {_MIN_N}, BCa "
    f"bootstrap (scipy.stats.bootstrap, {_RESAMPLES} resamples, seed {stats.SEED}) for n ≥ {_MIN_N} "
    "and for per-request latencies. n=1 has no interval; zero variance gives a zero-width interval."
)


# ---------------------------------------------------------------- numbers and labels


@dataclass(frozen=True)
class EnergyUnit:
    name: str
    scale: float  # multiply joules by this


def energy_unit(values: pd.Series | np.ndarray) -> EnergyUnit:
    """J, mJ or µJ: whichever puts the typical value between 1 and 1000."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    typical = float(np.median(np.abs(finite))) if finite.size else 1.0
    if typical >= 1 or typical == 0:
        return EnergyUnit("J", 1.0)
    if typical >= 1e-3:
        return EnergyUnit("mJ", 1e3)
    return EnergyUnit("µJ", 1e6)


def format_interval(mean: float, low: float, high: float, scale: float = 1.0) -> str:
    """``12.3 ± 0.4`` for a symmetric interval, ``12.3 +0.5/−0.3`` otherwise, ``12.3`` without one.

    The half-width gets two significant digits and the mean is rounded to the same place.
    """
    mean, low, high = mean * scale, low * scale, high * scale
    if not math.isfinite(mean):
        return "—"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.4g}"
    up, down = max(high - mean, 0.0), max(mean - low, 0.0)
    widest = max(up, down)
    if widest <= 1e-9 * abs(mean):  # zero variance (or float noise): show the mean to 4 digits
        widest = up = down = 0.0
    if widest == 0:
        decimals = max(0, 3 - math.floor(math.log10(abs(mean)))) if mean else 2
    else:
        decimals = max(0, 1 - math.floor(math.log10(widest)))
    if math.isclose(up, down, rel_tol=0.05, abs_tol=10**-decimals / 2):
        return f"{mean:.{decimals}f} ± {widest:.{decimals}f}"
    return f"{mean:.{decimals}f} +{up:.{decimals}f}/−{down:.{decimals}f}"


def short_method(method: str) -> str:
    return _SHORT_METHOD.get(method, method)


def config_label(row: pd.Series, columns: Sequence[str]) -> str:
    """``backend=vllm batch_size=8``: the swept values of one experiment, prefixes dropped,
    fields its backend does not have left out."""
    parts = []
    for column in columns:
        value = row[column]
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            continue  # a field this experiment's backend does not have
        parts.append(f"{column.split('.')[-1]}={value}")
    return " ".join(parts)


def label_columns(experiments: pd.DataFrame) -> list[str]:
    """The config columns that tell the experiments apart (backend and model when none vary)."""
    swept = aggregate.swept_columns(experiments)
    return swept or [c for c in ("backend", "model") if c in experiments.columns]


def _sorted_by_config(experiments: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    if not columns:
        return experiments
    return experiments.sort_values(list(columns), kind="stable", na_position="last")


# ---------------------------------------------------------------- terminal summary


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: set[int],
    shrinking: int,
    width: int = SUMMARY_WIDTH,
) -> list[str]:
    """Aligned lines, header and rule first; column ``shrinking`` gives way (cut with …) when a
    line would pass ``width``."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    others = sum(w for i, w in enumerate(widths) if i != shrinking) + 2 * (len(headers) - 1)
    widths[shrinking] = max(len(headers[shrinking]), min(widths[shrinking], width - others))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            if len(cell) > widths[i]:
                cell = cell[: widths[i] - 1] + "…"
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _interval_cells(row: pd.Series, unit: EnergyUnit) -> tuple[str, str, str, str]:
    """J/token and tokens/s with their intervals, n and the short method: the columns every
    terminal table shares."""
    return (
        format_interval(row[f"{ENERGY}_mean"], row[f"{ENERGY}_low"], row[f"{ENERGY}_high"], unit.scale),
        format_interval(row[f"{THROUGHPUT}_mean"], row[f"{THROUGHPUT}_low"], row[f"{THROUGHPUT}_high"]),
        str(row[f"{ENERGY}_n"]),
        short_method(str(row[f"{ENERGY}_method"])),
    )


def format_summary(
    experiments: pd.DataFrame, *, width: int = SUMMARY_WIDTH, max_rows: int = SUMMARY_MAX_ROWS
) -> str:
    """One line per experiment: swept config, J/output-token mean ± 95% interval, throughput, n,
    method — what ``camp run`` prints at the end. ``experiments`` is ``aggregate.experiments_frame``."""
    if experiments.empty or f"{ENERGY}_mean" not in experiments.columns:
        return "no finished runs to summarise"
    columns = label_columns(experiments)
    table = _sorted_by_config(experiments, columns)
    unit = energy_unit(table[f"{ENERGY}_mean"])
    energy_header = f"{unit.name}/tok (95% CI)"
    shown = table.head(max_rows)
    rows = [
        (str(row["exp_id"]), config_label(row, columns), *_interval_cells(row, unit), *extra)
        for (_, row), extra in zip(shown.iterrows(), _warned_cells(shown), strict=True)
    ]
    headers = ("exp_id", "config", energy_header, "tok/s (95% CI)", "n", "CI", *_warned_headers(table))
    lines = text_table(headers, rows, right={2, 3, 4, 6, 7}, shrinking=1, width=width)
    if len(table) > max_rows:
        lines.append(f"… {len(table) - max_rows} more experiments: see the report")
    legend = (
        "CI: 95% interval of the mean over cycles; t = Student-t, BCa = bootstrap (n ≥ "
        f"{stats.BOOTSTRAP_MIN_N}), sd=0 = zero variance, n=1 = no interval"
    )
    lines.extend(textwrap.wrap(legend, width))
    return "\n".join(lines)


def _warned_headers(experiments: pd.DataFrame) -> tuple[str, ...]:
    """``warned`` when the table counts warned runs; ``excl.`` too when some were excluded."""
    if "warned_runs" not in experiments.columns:
        return ()
    return ("warned", "excl.") if experiments["excluded_runs"].sum() > 0 else ("warned",)


def _warned_cells(experiments: pd.DataFrame) -> list[tuple[str, ...]]:
    """Per experiment: ``2/5`` (warned of all its runs; blank with none) and, when runs were
    excluded, how many of its runs the intervals leave out."""
    headers = _warned_headers(experiments)
    if not headers:
        return [() for _ in range(len(experiments))]
    counts = experiments[["warned_runs", "n_runs", "excluded_runs"]].astype(int).itertuples(index=False)
    return [
        (f"{n_warned}/{n_runs}" if n_warned else "", str(n_out) if n_out else "")[: len(headers)]
        for n_warned, n_runs, n_out in counts
    ]


def format_grouped(grouped: grouping.GroupedSummary, *, width: int = SUMMARY_WIDTH) -> str:
    """``camp report --by``: one line per group, with what its n counts said underneath."""
    table = grouped.table
    if table.empty or f"{ENERGY}_mean" not in table.columns:
        return "no finished runs to summarise"
    unit = energy_unit(table[f"{ENERGY}_mean"])
    rows = [
        (
            *("—" if pd.isna(row[c]) else str(row[c]) for c in grouped.by),
            str(row["experiments"]),
            *_interval_cells(row, unit),
        )
        for _, row in table.iterrows()
    ]
    headers = (*grouped.by, "exps", f"{unit.name}/tok (95% CI)", "tok/s (95% CI)", "n", "CI")
    k = len(grouped.by)
    lines = text_table(headers, rows, right={k, k + 1, k + 2, k + 3}, shrinking=0, width=width)
    if grouped.unit == grouping.UNIT_EXPERIMENTS:
        legend = (
            "groups pool several experiments: n counts experiments, and the 95% interval is over "
            "their per-experiment means (the spread of the pooled configurations, not repeatability)"
        )
    else:
        legend = "one experiment per group: n counts cycles; 95% interval of the mean over cycles"
    lines.extend(textwrap.wrap(legend, width))
    return "\n".join(lines)


def format_campaign_summary(tables: aggregate.CampaignTables) -> str:
    """The per-experiment table, then the warned runs per kind, then a warning for each
    experiment whose cycles loaded different model commits or ran on different camp builds."""
    found = aggregate.mixed_revision_warnings(tables.runs) + aggregate.mixed_build_warnings(tables.runs)
    warnings = [f"warning: {w}" for w in found]
    run_warnings = warned.summary_lines(tables.runs, tables.excluded_kinds, width=SUMMARY_WIDTH)
    return "\n".join([format_summary(tables.experiments), *run_warnings, *warnings])


def summary_text(campaign_dir: Path) -> str:
    """The terminal summary of a campaign's done runs (writes the aggregate tables too).

    Printed after the runs are safely recorded, so a run dir that cannot be aggregated is
    reported in the text instead of raised."""
    try:
        tables = aggregate.aggregate_campaign(campaign_dir, request_stats=False)
    except aggregate.AggregationError as err:
        return f"cannot summarise: {err}"
    return format_campaign_summary(tables)


# ---------------------------------------------------------------- plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_STYLE = {
    "figure.dpi": 150,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "errorbar.capsize": 3,
}


def _save(fig: Figure, path: Path) -> Path:
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    _pyplot().close(fig)
    return path


def _error_bars(mean: pd.Series, low: pd.Series, high: pd.Series, scale: float) -> np.ndarray:
    """Asymmetric error bar lengths; no bar (0) where there is no interval."""
    below = ((mean - low) * scale).to_numpy(dtype=float)
    above = ((high - mean) * scale).to_numpy(dtype=float)
    return np.nan_to_num(np.vstack([below, above]), nan=0.0).clip(min=0)


def _positions(values: pd.Series) -> tuple[np.ndarray, list[float], list[str], str]:
    """Where each value goes on the x axis, the ticks, their labels, and the axis kind.

    Numbers spanning ≥ 8× (batch sizes 1…64) go on a log2 axis; other numbers on a linear one;
    anything else is categorical, in sorted order.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    uniques = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
    if numeric.notna().all() and len(values):
        nums = numeric.to_numpy(dtype=float)
        ticks = sorted(set(nums.tolist()))
        if min(ticks) > 0 and max(ticks) / min(ticks) >= 8:
            return np.log2(nums), [math.log2(t) for t in ticks], [f"{t:g}" for t in ticks], "log"
        return nums, ticks, [f"{t:g}" for t in ticks], "linear"
    index = {v: i for i, v in enumerate(uniques)}
    positions = np.array([index.get(v, np.nan) for v in values], dtype=float)
    return positions, list(range(len(uniques))), [str(u) for u in uniques], "category"


def plotted_parameters(experiments: pd.DataFrame) -> list[str]:
    """Swept config columns with at least two values to put on an axis — and, when they are not
    numbers, at most ``MAX_CATEGORIES`` of them (more would be an unreadable axis)."""
    chosen = []
    for column in aggregate.swept_columns(experiments):
        values = experiments[column].dropna()
        numeric = pd.to_numeric(values, errors="coerce").notna().all()
        if values.nunique() >= 2 and (numeric or values.nunique() <= MAX_CATEGORIES):
            chosen.append(column)
    return chosen


def plot_energy_vs_parameter(
    experiments: pd.DataFrame, runs: pd.DataFrame, parameter: str, path: Path
) -> Path:
    """Energy per output token against one swept parameter, one line per setting of the others.

    With more combinations than colours, the experiments are pooled per value of the parameter
    (the interval then spans every other setting, which the legend says).
    """
    plt = _pyplot()
    others = [c for c in label_columns(experiments) if c != parameter]
    unit = energy_unit(experiments[f"{ENERGY}_mean"])
    # Experiments without this parameter (another backend) have no place on its axis.
    experiments = experiments[experiments[parameter].notna()]
    runs = runs[runs[parameter].notna()]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        series: list[tuple[str, pd.DataFrame]]
        if others and experiments.groupby(others, dropna=False).ngroups > MAX_SERIES:
            pooled = stats.summarise(runs, ENERGY, by=[parameter]).rename(
                columns={c: f"{ENERGY}_{c}" for c in stats.SUMMARY_COLUMNS}
            )
            series = [("pooled over other settings", pooled)]
        elif others:
            series = [
                (
                    config_label(group.iloc[0], others) if len(others) > 1 else str(group.iloc[0][others[0]]),
                    group,
                )
                for _, group in _sorted_by_config(experiments, others).groupby(
                    others, dropna=False, sort=False
                )
            ]
        else:
            series = [("", experiments)]
        _, ticks, tick_labels, kind = _positions(experiments[parameter])
        spacing = np.diff(ticks).min() if len(ticks) > 1 else 1.0
        placed = []
        for label, group in series:
            group = group.sort_values(parameter)
            if kind == "category":  # the shared category positions
                x = np.array([tick_labels.index(str(v)) for v in group[parameter]], dtype=float)
            else:
                x = pd.to_numeric(group[parameter]).to_numpy(dtype=float)
                x = np.log2(x) if kind == "log" else x
            placed.append((label, group, x))
        # Points sharing an x position are spread around it so their bars do not hide each other.
        sharing: dict[float, list[int]] = {}
        for i, (_, _, x) in enumerate(placed):
            for position in x:
                sharing.setdefault(float(position), []).append(i)
        step = (0.12 if kind == "category" else 0.05) * spacing
        for i, (label, group, x) in enumerate(placed):
            dodge = np.array(
                [(sharing[float(p)].index(i) - (len(sharing[float(p)]) - 1) / 2) * step for p in x]
            )
            ax.errorbar(
                x + dodge,
                group[f"{ENERGY}_mean"] * unit.scale,
                yerr=_error_bars(
                    group[f"{ENERGY}_mean"], group[f"{ENERGY}_low"], group[f"{ENERGY}_high"], unit.scale
                ),
                marker="o",
                markersize=4.5,
                # Lines only where the axis is ordered: categories (dtypes) get a dot plot.
                linestyle="none" if kind == "category" else "-",
                linewidth=1.4,
                color=PALETTE[i % len(PALETTE)],
                label=label or None,
            )
        crowded = kind == "category" and (len(ticks) > 4 or max(len(t) for t in tick_labels) > 10)
        ax.set_xticks(ticks, tick_labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
        ax.set_xlabel(parameter.split(".")[-1].replace("_", " ") + (" (log scale)" if kind == "log" else ""))
        ax.set_ylabel(f"Energy per output token ({unit.name})")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Energy per output token vs {parameter.split('.')[-1]}", loc="left")
        if any(label for label, _ in series):
            ax.legend(
                title=", ".join(c.split(".")[-1] for c in others) if len(series) > 1 else None,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
            )
        fig.text(
            0.99, -0.02, "mean over cycles, bars: 95% CI", ha="right", va="top", fontsize=7.5, color="0.4"
        )
        return _save(fig, path)


def plot_pareto(experiments: pd.DataFrame, path: Path) -> Path:
    """Throughput against energy per token; the Pareto front (no config faster AND cheaper) marked."""
    plt = _pyplot()
    unit = energy_unit(experiments[f"{ENERGY}_mean"])
    front = stats.pareto_front(experiments[f"{THROUGHPUT}_mean"], experiments[f"{ENERGY}_mean"])
    columns = label_columns(experiments)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        x = experiments[f"{ENERGY}_mean"] * unit.scale
        y = experiments[f"{THROUGHPUT}_mean"]
        xerr = _error_bars(
            experiments[f"{ENERGY}_mean"],
            experiments[f"{ENERGY}_low"],
            experiments[f"{ENERGY}_high"],
            unit.scale,
        )
        yerr = _error_bars(y, experiments[f"{THROUGHPUT}_low"], experiments[f"{THROUGHPUT}_high"], 1.0)
        ax.errorbar(
            x[~front],
            y[~front],
            xerr=xerr[:, ~front],
            yerr=yerr[:, ~front],
            fmt="o",
            markersize=5,
            color="0.6",
            mfc="white",
            ecolor="0.75",
            elinewidth=0.8,
            label="dominated",
        )
        ax.errorbar(
            x[front],
            y[front],
            xerr=xerr[:, front],
            yerr=yerr[:, front],
            fmt="o",
            markersize=6,
            color=PALETTE[3],
            ecolor=PALETTE[3],
            elinewidth=0.9,
            label="Pareto front",
            zorder=3,
        )
        order = np.argsort(x[front].to_numpy())
        ax.plot(
            x[front].to_numpy()[order],
            y[front].to_numpy()[order],
            color=PALETTE[3],
            linewidth=1.0,
            linestyle="--",
            zorder=2,
        )
        if front.sum() <= MAX_PARETO_LABELS:  # more labels would overlap: the HTML table lists them
            on_front = experiments[front].assign(_x=x[front], _y=y[front]).sort_values("_y", ascending=False)
            for k, (_, row) in enumerate(on_front.iterrows()):
                ax.annotate(
                    config_label(row, columns),
                    (row["_x"], row["_y"]),
                    xytext=(8, -11 if k % 2 else 4),
                    textcoords="offset points",
                    fontsize=7.5,
                    color="0.2",
                )
        ax.set_xlabel(f"Energy per output token ({unit.name})")
        ax.set_ylabel("Throughput (output tokens/s)")
        ax.text(
            0.99,
            0.98,
            "better: ↖ (faster, less energy)",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7.5,
            color="0.4",
        )
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_title("Throughput vs energy per token", loc="left")
        ax.legend(loc="center right")
        fig.text(
            0.99, -0.02, "mean over cycles, bars: 95% CI", ha="right", va="top", fontsize=7.5, color="0.4"
        )
        return _save(fig, path)


def read_timeseries(path: Path) -> pd.DataFrame | None:
    """The GPUs' power trace of a run (the contract's columns, ``camp_contract.timeseries``; an
    extra source's rows, such as RAPL's, left out), or None when it is missing, unreadable or
    lacks ``t_s``/``power_w``."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError):
        return None
    if ts.SOURCE in frame.columns:
        frame = frame[frame[ts.SOURCE].map(ts.is_gpu_source).astype(bool)]
    if not set(ts.REQUIRED_COLUMNS) <= set(frame.columns) or frame.empty:
        return None
    return frame[[c for c in ts.COLUMNS if c in frame.columns]]


def plot_power_timeseries(trace: pd.DataFrame, run: pd.Series, title: str, path: Path) -> Path:
    """Power over time with the measured window shaded and the idle baseline drawn."""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        groups: list[tuple[Any, pd.DataFrame]] = (
            [(str(key), part) for key, part in trace.groupby(ts.DEVICE)]
            if ts.DEVICE in trace.columns
            else [(None, trace)]
        )
        for i, (device, samples) in enumerate(groups):
            samples = samples.sort_values(ts.T_S)
            ax.plot(
                samples[ts.T_S],
                samples[ts.POWER_W],
                color=PALETTE[i % len(PALETTE)],
                linewidth=1.1,
                label=f"GPU {device}" if device is not None and len(groups) > 1 else "power",
            )
        start, end = float(run["window_start_s"]), float(run["window_end_s"])
        ax.axvspan(start, end, color=PALETTE[0], alpha=0.12, linewidth=0, label="measured window")
        baseline = float(run["baseline_power_w"])
        if math.isfinite(baseline):
            ax.axhline(
                baseline, color="0.35", linestyle=":", linewidth=1.0, label=f"idle baseline {baseline:.1f} W"
            )
        ax.set_xlabel("Time (s, sampler clock)")
        ax.set_ylabel("Power (W)")
        ax.set_ylim(bottom=0)
        ax.set_title(title, loc="left")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3 + len(groups) - 1)
        return _save(fig, path)


def representative_run(runs: pd.DataFrame, campaign_dir: Path) -> tuple[pd.Series, pd.DataFrame] | None:
    """The run closest to the campaign's median energy per token that has a usable power trace."""
    if runs.empty:
        return None
    distance = (runs[ENERGY] - runs[ENERGY].median()).abs()
    for index in distance.sort_values(kind="stable").index:
        run = runs.loc[index]
        run_dir = layout.run_dir(campaign_dir, str(run["exp_id"]), int(run["cycle"]))
        trace = read_timeseries(layout.RunFiles(run_dir).timeseries)
        if trace is not None:
            return run, trace
    return None


# ---------------------------------------------------------------- HTML


def _experiment_table(experiments: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    """The report's summary table: swept config, then each metric as mean ± interval."""
    columns = label_columns(experiments)
    table = _sorted_by_config(experiments, columns)
    unit = energy_unit(table[f"{ENERGY}_mean"])
    shown = table[["exp_id", *columns]].rename(columns={c: c.split(".")[-1] for c in columns})

    def interval(metric: str, scale: float = 1.0) -> pd.Series:
        return table.apply(
            lambda r: format_interval(r[f"{metric}_mean"], r[f"{metric}_low"], r[f"{metric}_high"], scale),
            axis=1,
        )

    shown[f"{unit.name}/output token"] = interval(ENERGY, unit.scale)
    shown["tokens/s"] = interval(THROUGHPUT)
    shown["J/request"] = interval("energy_per_request_j")
    shown["avg power (W)"] = interval("avg_power_w")
    if not latency.empty and "exp_id" in latency.columns and len(latency.columns) > 1:
        merged = table[["exp_id"]].merge(latency, on="exp_id", how="left")
        shown["request latency (ms)"] = [
            format_interval(m, lo, hi, 1e3)
            for m, lo, hi in zip(merged["mean"], merged["low"], merged["high"], strict=True)
        ]
    shown["n"] = table[f"{ENERGY}_n"].to_numpy()
    shown["interval"] = table[f"{ENERGY}_method"].to_numpy()
    if "warned_runs" in table.columns:
        kinds = warned.kind_columns(table)
        shown["warned runs"] = [
            f"⚠ {int(row['warned_runs'])}/{int(row['n_runs'])}: {warned.compact(row, kinds)}"
            if row["warned_runs"]
            else ""
            for _, row in table.iterrows()
        ]
        if table["excluded_runs"].sum() > 0:
            shown["excluded"] = [str(int(n)) if n else "" for n in table["excluded_runs"]]
    return shown


_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; font-family: monospace; }
figure { margin: 1rem 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: 0.85rem; }
.note { color: #555; font-size: 0.85rem; } .warn { color: #a33; }
table.warn td { text-align: left; white-space: normal; }
"""


def _figure(name: str, caption: str) -> str:
    return (
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "param"


def write_report(campaign_dir: Path, tables: aggregate.CampaignTables | None = None) -> Path:
    """Write ``report/index.html`` with its PNG plots; aggregates the done runs unless ``tables``
    (from ``aggregate.aggregate_campaign``) are given."""
    campaign_dir = Path(campaign_dir)
    if tables is None:
        tables = aggregate.aggregate_campaign(campaign_dir)
    out = layout.report_dir(campaign_dir)
    out.mkdir(parents=True, exist_ok=True)
    experiments, runs = tables.experiments, tables.kept_runs  # plots show what the intervals use
    sections: list[str] = []
    name = campaign_dir.name
    if tables.runs.empty:
        sections.append("<p>No finished runs yet: run the campaign first (<code>camp run</code>).</p>")
    elif runs.empty:  # --exclude-warned left no run: the table still says what was excluded
        sections.append(_warned_banner(tables))
        sections.append("<h2>Experiments</h2>")
        sections.append(_experiment_table(experiments, tables.request_latency).to_html(index=False, border=0))
        sections.append('<p class="note">Every run was excluded: no interval and no plot.</p>')
        sections.append(_warnings_section(tables, experiments))
    else:
        sections.append(_warned_banner(tables))
        sections.append("<h2>Experiments</h2>")
        sections.append(_experiment_table(experiments, tables.request_latency).to_html(index=False, border=0))
        sections.append(f'<p class="note">{html.escape(METHODS_NOTE)}</p>')
        plots = []
        for parameter in plotted_parameters(experiments):
            png = f"energy_vs_{_slug(parameter)}.png"
            plot_energy_vs_parameter(experiments, runs, parameter, out / png)
            plots.append(
                _figure(png, f"Energy per output token vs {parameter}: mean over cycles, 95% CI bars.")
            )
        plot_pareto(experiments, out / "pareto.png")
        plots.append(
            _figure(
                "pareto.png",
                "Throughput vs energy per output token; filled: Pareto front (no other configuration is both "
                "faster and cheaper). Bars: 95% CI.",
            )
        )
        front = stats.pareto_front(experiments[f"{THROUGHPUT}_mean"], experiments[f"{ENERGY}_mean"])
        front_table = _experiment_table(experiments[front], tables.request_latency)
        plots.append("<h3>Pareto front</h3>" + front_table.to_html(index=False, border=0))
        chosen = representative_run(runs, campaign_dir)
        if chosen is not None:
            run, trace = chosen
            columns = label_columns(experiments)
            exp_row = experiments.loc[experiments["exp_id"] == run["exp_id"]].iloc[0]
            title = f"Power of {run['exp_id']} c{run['cycle']} ({config_label(exp_row, columns)})"
            plot_power_timeseries(trace, run, title, out / "power_timeseries.png")
            plots.append(
                _figure(
                    "power_timeseries.png",
                    f"Power trace of run {run['exp_id']}/c{run['cycle']} (the run nearest the median "
                    "energy per token); shaded: measured window; dotted: the idle baseline subtracted.",
                )
            )
        else:
            plots.append('<p class="note">No power trace (timeseries.parquet with t_s, power_w) found.</p>')
        sections.append("<h2>Plots</h2>")
        sections.extend(plots)
        sections.append(_warnings_section(tables, experiments))
    tables_dir = Path(os.path.relpath(layout.aggregate_dir(campaign_dir), out)).as_posix()
    sections.append(
        f'<h2>Data</h2><p>Every run: <a href="{tables_dir}/runs.csv">runs.csv</a> / '
        f'<a href="{tables_dir}/runs.parquet">runs.parquet</a>; per experiment: '
        f'<a href="{tables_dir}/experiments.csv">experiments.csv</a>; every run warning: '
        f'<a href="{tables_dir}/warnings.csv">warnings.csv</a>.</p>'
    )
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n_exp = experiments["exp_id"].nunique() if not experiments.empty else 0
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>camp report — {html.escape(name)}</title>"
        f"<style>{_CSS}</style></head><body><h1>camp report — {html.escape(name)}</h1>"
        f"<p class='meta'>{len(tables.runs)} finished runs of {n_exp} experiments · generated {generated}</p>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    index = out / "index.html"
    atomic_write_text(index, page)
    _remove_stale_plots(out, page)
    return index


def _warned_banner(tables: aggregate.CampaignTables) -> str:
    """The line at the top of the report that says how many runs are warned and whether the
    intervals include them; empty when no run is."""
    runs = tables.runs
    if runs.empty or not (runs["n_warnings"] > 0).any():
        return ""
    n_warned, n_out = int((runs["n_warnings"] > 0).sum()), int(runs["excluded"].sum())
    text = f"⚠ {n_warned} of {len(runs)} runs carry warnings (see Warnings below): "
    if n_out:
        text += (
            f"the {n_out} with {', '.join(tables.excluded_kinds)} {'is' if n_out == 1 else 'are'} left "
            "out of every interval and plot (camp report --exclude-warned); the others are in them."
        )
    else:
        text += (
            "their numbers are in every interval and plot "
            "(camp report --exclude-warned KIND leaves them out)."
        )
    return f'<p class="warn">{html.escape(text)}</p>'


def _warnings_section(tables: aggregate.CampaignTables, experiments: pd.DataFrame) -> str:
    """Every run warning, grouped by kind (most runs first): which runs, their configuration,
    the message, and whether the run is in the intervals."""
    kinds = warned.kind_summary(tables.runs, tables.excluded_kinds)
    if not kinds:
        return ""
    columns = label_columns(experiments)
    labels = {row["exp_id"]: config_label(row, columns) for _, row in experiments.iterrows()}
    listed = tables.warnings.merge(
        tables.runs[["exp_id", "cycle", "excluded"]], on=["exp_id", "cycle"], how="left"
    )
    parts = [
        "<h2>Warnings</h2>",
        f'<p class="note">What each kind means and what to do: {html.escape(warned.DOCS_HINT)}. '
        "Every warning is in aggregate/warnings.csv.</p>",
    ]
    for kind in kinds:
        runs_text = f"{kind.runs} run{'s' if kind.runs != 1 else ''}"
        exps_text = f"{kind.experiments} experiment{'s' if kind.experiments != 1 else ''}"
        parts.append(f"<h3>⚠ {html.escape(kind.kind)}: {runs_text} in {exps_text}, {kind.status()}</h3>")
        rows = listed[listed["kind"] == kind.kind].sort_values(["exp_id", "cycle"], kind="stable")
        table = pd.DataFrame(
            {
                "exp_id": rows["exp_id"].to_numpy(),
                "cycle": rows["cycle"].to_numpy(),
                "config": [labels.get(e, "") for e in rows["exp_id"]],
                "in intervals": ["no" if out else "yes" for out in rows["excluded"].fillna(False)],
                "message": rows["message"].to_numpy(),
            }
        )
        parts.append(table.head(MAX_WARNING_ROWS).to_html(index=False, border=0, classes="warn"))
        if len(table) > MAX_WARNING_ROWS:
            parts.append(f'<p class="note">… {len(table) - MAX_WARNING_ROWS} more: see warnings.csv.</p>')
    return "\n".join(parts)


def _remove_stale_plots(out: Path, page: str) -> None:
    """Plots of an earlier report (a parameter no longer swept) would mislead whoever browses the
    folder: remove the PNGs this page does not show."""
    for png in out.glob("*.png"):
        if f'src="{png.name}"' not in page:
            png.unlink(missing_ok=True)

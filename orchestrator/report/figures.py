"""The report's figures: matplotlib PNGs drawn from ``data.ReportData`` — energy per token against
each swept parameter, throughput against energy with the Pareto front, and one run's power
trace. Agg backend, so no display is needed; every PNG is written atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from camp_contract import timeseries as ts
from camp_contract.atomic import atomic_write_with
from orchestrator import stats
from orchestrator.report.data import EnergySeries, ReportData, bars_note, energy_series, pareto_bars_note
from orchestrator.report.formatting import ENERGY, THROUGHPUT, config_label, energy_unit, label_columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe–Ito: distinguishable in colour-blind vision and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MAX_PARETO_LABELS = 4


def draw_figures(data: ReportData, out: Path) -> list[Path]:
    """Every PNG the page shows (``data.plots``), written into ``out``."""
    written = [
        plot_energy_vs_parameter(
            data.experiments, data.runs, plot.parameter, out / plot.filename, plot.series
        )
        for plot in data.energy_plots
    ]
    if data.pareto is not None:
        written.append(plot_pareto(data.experiments, out / data.pareto.filename, data.pareto.front))
    if data.power is not None:
        power = data.power
        written.append(plot_power_timeseries(power.trace, power.run, power.title, out / power.filename))
    return written


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


def plot_energy_vs_parameter(
    experiments: pd.DataFrame,
    runs: pd.DataFrame,
    parameter: str,
    path: Path,
    plotted: EnergySeries | None = None,
) -> Path:
    """Energy per output token against one swept parameter, one line per setting of the others
    (or pooled: see ``data.energy_series``, which ``plotted`` is when given)."""
    plt = _pyplot()
    others = [c for c in label_columns(experiments) if c != parameter]
    unit = energy_unit(experiments[f"{ENERGY}_mean"])
    if plotted is None:
        plotted = energy_series(experiments, runs, parameter)
    series = plotted.lines
    experiments = experiments[experiments[parameter].notna()]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
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
            0.99,
            -0.02,
            bars_note([group for _, group in series], plotted.over),
            ha="right",
            va="top",
            fontsize=7.5,
            color="0.4",
        )
        return _save(fig, path)


def plot_pareto(experiments: pd.DataFrame, path: Path, front: np.ndarray | None = None) -> Path:
    """Throughput against energy per token; the Pareto front (no config faster AND cheaper, the
    mask ``front`` when given) marked."""
    plt = _pyplot()
    unit = energy_unit(experiments[f"{ENERGY}_mean"])
    if front is None:
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
            0.99,
            -0.02,
            pareto_bars_note(experiments),
            ha="right",
            va="top",
            fontsize=7.5,
            color="0.4",
        )
        return _save(fig, path)


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

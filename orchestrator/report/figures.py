"""The report's figures: matplotlib PNGs drawn from ``data.ReportData`` — energy per token against
each swept parameter (each cycle's value beside its interval), throughput against energy and
energy against latency with their Pareto fronts. Agg backend, so no display is needed; every PNG
is written atomically. (Runs' traces are drawn in the page, from ``traces``' scripts.)"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from camp_contract.atomic import atomic_write_with
from orchestrator import stats
from orchestrator.report.data import (
    LATENCY,
    EnergySeries,
    LatencyPlot,
    ReportData,
    bars_note,
    energy_series,
    pareto_bars_note,
)
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
    if data.latency is not None:
        written.append(plot_energy_latency(data.latency, out / data.latency.filename))
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

        def positions(values: pd.Series) -> np.ndarray:
            if kind == "category":  # the shared category positions
                return np.array([tick_labels.index(str(v)) for v in values], dtype=float)
            x = pd.to_numeric(values).to_numpy(dtype=float)
            return np.log2(x) if kind == "log" else x

        placed = []
        for label, group in series:
            group = group.sort_values(parameter)
            placed.append((label, group, positions(group[parameter])))
        # Points sharing an x position are spread around it so their bars do not hide each other.
        sharing: dict[float, list[int]] = {}
        for i, (_, _, x) in enumerate(placed):
            for position in x:
                sharing.setdefault(float(position), []).append(i)
        step = (0.2 if kind == "category" else 0.09) * spacing
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
            if i < len(plotted.points):  # each cycle's value, just right of its interval
                points = plotted.points[i]
                px = positions(points[parameter])
                px_dodge = np.array([dodge[list(x).index(v)] if v in x else 0.0 for v in px])
                ax.scatter(
                    px + px_dodge + step * 0.4,
                    points[ENERGY] * unit.scale,
                    s=9,
                    color=PALETTE[i % len(PALETTE)],
                    alpha=0.45,
                    linewidths=0,
                    zorder=1,
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


def plot_energy_latency(plot: LatencyPlot, path: Path) -> Path:
    """Energy per token against mean request latency, the Pareto front (no config both quicker
    and cheaper) marked; lower-left is better."""
    plt = _pyplot()
    experiments, front = plot.experiments, plot.front
    unit = energy_unit(experiments[f"{ENERGY}_mean"])
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        x = experiments[f"{LATENCY}_mean"].astype(float) * 1e3
        y = experiments[f"{ENERGY}_mean"] * unit.scale
        xerr = _error_bars(
            experiments[f"{LATENCY}_mean"], experiments[f"{LATENCY}_low"], experiments[f"{LATENCY}_high"], 1e3
        )
        yerr = _error_bars(
            experiments[f"{ENERGY}_mean"],
            experiments[f"{ENERGY}_low"],
            experiments[f"{ENERGY}_high"],
            unit.scale,
        )
        for mask, style in (
            (
                ~front,
                {"color": "0.6", "mfc": "white", "ecolor": "0.75", "markersize": 5, "label": "dominated"},
            ),
            (front, {"color": PALETTE[3], "ecolor": PALETTE[3], "markersize": 6, "label": "Pareto front"}),
        ):
            ax.errorbar(
                x[mask], y[mask], xerr=xerr[:, mask], yerr=yerr[:, mask], fmt="o", elinewidth=0.8, **style
            )
        order = np.argsort(x[front].to_numpy())
        ax.plot(
            x[front].to_numpy()[order],
            y[front].to_numpy()[order],
            color=PALETTE[3],
            linewidth=1.0,
            linestyle="--",
        )
        ax.set_xlabel("Mean request latency (ms)")
        ax.set_ylabel(f"Energy per output token ({unit.name})")
        ax.text(
            0.99,
            0.98,
            "better: ↙ (quicker, less energy)",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7.5,
            color="0.4",
        )
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.set_title("Energy per token vs request latency", loc="left")
        ax.legend(loc="lower right")
        fig.text(
            0.99,
            -0.02,
            pareto_bars_note(experiments, LATENCY),
            ha="right",
            va="top",
            fontsize=7.5,
            color="0.4",
        )
        return _save(fig, path)

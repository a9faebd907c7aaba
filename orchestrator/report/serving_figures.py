"""The serving section's figures: each metric of ``serving_data.ServingSection`` against load,
one line per configuration with 95% error bars over cycles, the SLO's threshold as a red line
where the SLO bounds the metric, and each line's knee as a dashed vertical line in its colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.report.figures import _STYLE, PALETTE, _error_bars, _pyplot, _save
from orchestrator.report.serving_data import ServingPlot, ServingSection, load_positions

SLO_COLOUR = "#C0392B"


def draw_serving_figures(section: ServingSection, out: Path) -> list[Path]:
    """Every PNG of the serving section, written into ``out``."""
    return [plot_against_load(section, plot, out / plot.filename) for plot in section.plots]


def plot_against_load(section: ServingSection, plot: ServingPlot, path: Path) -> Path:
    """One metric against load (see the module docstring)."""
    plt = _pyplot()
    loads = pd.concat([line.rows[section.load_column].astype(float) for line in section.lines])
    positions, ticks, tick_labels, log = load_positions(loads)
    where = dict(zip(loads.tolist(), positions.tolist(), strict=True))  # load → x (inf: past the rest)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        spacing = float(np.diff(ticks).min()) if len(ticks) > 1 else 1.0
        dodge_step = 0.04 * spacing
        for i, line in enumerate(section.lines):
            rows = line.rows
            if f"{plot.metric}_mean" not in rows.columns:
                continue
            colour = PALETTE[i % len(PALETTE)]
            x = np.array([where[v] for v in rows[section.load_column].astype(float)])
            dodge = (i - (len(section.lines) - 1) / 2) * dodge_step
            y = rows[f"{plot.metric}_mean"].to_numpy(dtype=float) * plot.scale
            ax.errorbar(
                x + dodge,
                y,
                yerr=_error_bars(
                    rows[f"{plot.metric}_mean"],
                    rows[f"{plot.metric}_low"],
                    rows[f"{plot.metric}_high"],
                    plot.scale,
                ),
                marker="o",
                markersize=4.5,
                linestyle="none",
                color=colour,
                label=line.label or None,
            )
            # solid between finite loads; dotted to an infinite rate, which is no point on a scale
            finite = np.isfinite(rows[section.load_column].astype(float).to_numpy())
            ax.plot(x[finite] + dodge, y[finite], color=colour, linewidth=1.4)
            if (~finite).any() and finite.any():
                last = np.flatnonzero(finite)[-1]
                ax.plot(x[[last, -1]] + dodge, y[[last, -1]], color=colour, linewidth=1.2, linestyle=":")
            if line.knee is not None:
                ax.axvline(where[line.knee] + dodge, color=colour, linestyle="--", linewidth=0.9, alpha=0.8)
                ax.annotate(
                    "knee",
                    (where[line.knee] + dodge, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(3, -10),
                    textcoords="offset points",
                    fontsize=7.5,
                    color=colour,
                )
        if plot.threshold is not None:
            ax.axhline(plot.threshold * plot.scale, color=SLO_COLOUR, linewidth=1.1)
            ax.annotate(
                "SLO",
                (1.0, plot.threshold * plot.scale),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=7.5,
                color=SLO_COLOUR,
            )
        ax.set_xticks(ticks, tick_labels)
        ax.set_xlabel(section.load_name.removesuffix(")") + "; log scale)" if log else section.load_name)
        ax.set_ylabel(plot.axis_label)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{plot.axis_label.split(' (')[0]} vs load", loc="left")
        if any(line.label for line in section.lines):
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _save(fig, path)

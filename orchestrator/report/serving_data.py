"""What the report's serving section shows, computed once from the experiments table: the
server-mode experiments as lines against their load (one per configuration: the swept settings
other than the load), their table, the SLO's thresholds and each line's knee.

The knee of a line is the highest load tested whose SLO attainment (mean over cycles) is at
least 90 %: beyond it, fewer than nine in ten requests get their answer within the SLO, and
goodput falls away from the offered load. A line none of whose loads meets the SLO has no knee;
one whose every load does has its knee at the highest load tested (the true knee is beyond).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestrator import slo
from orchestrator.report.data import Plot, Table, bars_note
from orchestrator.report.formatting import config_label, energy_unit, metric_interval
from orchestrator.report.serving_text import (
    RATE,
    configuration_columns,
    load_axis,
    load_text,
    saturated,
    server_experiments,
    slo_met_text,
    sorted_by_load,
)

ENERGY_PER_REQUEST = "energy_per_request_j"


@dataclass(frozen=True)
class ServingLine:
    """One configuration's experiments in load order, and its knee (a load value, or None)."""

    label: str
    rows: pd.DataFrame
    knee: float | None


@dataclass(frozen=True, eq=False)
class ServingPlot(Plot):
    """One metric against load: its column, how to scale and name it, and the SLO's threshold
    for it (a horizontal line) where the SLO bounds it."""

    metric: str
    axis_label: str
    scale: float
    threshold: float | None = None


@dataclass(frozen=True, eq=False)
class ServingSection:
    load_column: str  # workload.request_rate or workload.concurrency
    load_name: str  # the x axis: "request rate (requests/s)" / "concurrency (requests in flight)"
    lines: tuple[ServingLine, ...]
    plots: tuple[ServingPlot, ...]
    table: Table
    slo_text: str  # the SLO as a sentence, or how to add one
    knees: tuple[str, ...]  # per line: where its knee is, in words


def knee(rows: pd.DataFrame, load_column: str) -> float | None:
    """The highest load of these rows whose mean attainment is ≥ 90 %; None if none is (or
    there is no SLO)."""
    if "slo_attainment_pct_mean" not in rows.columns:
        return None
    attainment = rows["slo_attainment_pct_mean"]
    meeting = rows.loc[attainment >= 100 * slo.ATTAINMENT_TARGET, load_column].astype(float)
    return float(meeting.max()) if len(meeting) else None


def _load_name(load_column: str, with_inf: bool) -> str:
    if load_column != RATE:
        return "concurrency (requests in flight)"
    return (
        "request rate (requests/s; inf: saturated, n_requests kept in flight)"
        if with_inf
        else ("request rate (requests/s)")
    )


def knee_text(line: ServingLine, load_column: str, has_slo: bool) -> str:
    name = line.label or "all experiments"
    if not has_slo:
        return ""
    if line.knee is None:
        return f"{name}: no load tested meets the SLO"
    loads = line.rows[load_column].astype(float)
    at = load_text(pd.Series({load_column: line.knee}))
    if math.isinf(line.knee):
        achieved = line.rows.loc[np.isinf(loads), "achieved_rate_rps_mean"]
        throughput = f"{float(achieved.iloc[0]):.3g} requests/s" if len(achieved) else "its throughput"
        return f"{name}: the SLO holds even saturated (rate=inf, {throughput} achieved)"
    if line.knee >= float(loads.max()):
        return f"{name}: every load tested meets the SLO (the knee is beyond {at})"
    return f"{name}: knee at {at}, the highest load with ≥ 90% of requests within the SLO"


def serving_table(served: pd.DataFrame, configuration: list[str]) -> Table:
    """One row per server-mode experiment: its load, then each figure as mean ± 95% interval."""
    unit = energy_unit(served[f"{ENERGY_PER_REQUEST}_mean"])
    token_unit = energy_unit(served["energy_per_output_token_j_mean"])

    def cells(metric: str, scale: float = 1.0) -> list[str]:
        if f"{metric}_mean" not in served.columns:
            return ["—"] * len(served)
        return [metric_interval(row, metric, scale) for _, row in served.iterrows()]

    shown = pd.DataFrame(
        {
            "exp_id": served["exp_id"].to_numpy(),
            "config": [config_label(row, configuration) for _, row in served.iterrows()],
            "load": [load_text(row) for _, row in served.iterrows()],
            "achieved (requests/s)": cells("achieved_rate_rps"),
            f"{unit.name}/request": cells(ENERGY_PER_REQUEST, unit.scale),
            f"{token_unit.name}/output token": cells("energy_per_output_token_j", token_unit.scale),
        }
    )
    if not configuration:  # nothing but the load tells these experiments apart
        shown = shown.drop(columns="config")
    for latency in ("ttft", "tpot", "itl", "e2e"):
        for p in ("p50", "p90", "p99"):
            shown[f"{latency.upper()} {p} (ms)"] = cells(f"{latency}_{p}_s", 1e3)
    shown["goodput (requests/s)"] = cells("goodput_rps")
    shown["SLO met"] = [slo_met_text(row) for _, row in served.iterrows()]
    shown["n"] = served[f"{ENERGY_PER_REQUEST}_n"].to_numpy()
    return Table.of(shown)


def _plots(
    section_lines: list[ServingLine], service_level: slo.ServiceLevel | None
) -> tuple[ServingPlot, ...]:
    frames = [line.rows for line in section_lines]
    unit = energy_unit(pd.concat(frames)[f"{ENERGY_PER_REQUEST}_mean"])
    note = bars_note(frames, "cycles", (ENERGY_PER_REQUEST,))
    knee_note = "; dashed: each line's knee (highest load with ≥ 90% of requests within the SLO)"
    knees = knee_note if service_level is not None else ""
    ttft = service_level.ttft_p90_s if service_level else None
    tpot = service_level.tpot_p90_s if service_level else None
    plots = [
        ServingPlot(
            "serving_energy_per_request.png",
            f"Energy per request vs load, one line per configuration{knees}; {note}.",
            metric=ENERGY_PER_REQUEST,
            axis_label=f"Energy per request ({unit.name})",
            scale=unit.scale,
        ),
        ServingPlot(
            "serving_ttft_p90.png",
            "TTFT p90 (send → first token) vs load"
            + ("; red: the SLO's threshold" if ttft is not None else "")
            + f"{knees}; bars: 95% CI over cycles of each cycle's p90.",
            metric="ttft_p90_s",
            axis_label="TTFT p90 (ms)",
            scale=1e3,
            threshold=ttft,
        ),
        ServingPlot(
            "serving_tpot_p90.png",
            "TPOT p90 (time per output token after the first) vs load"
            + ("; red: the SLO's threshold" if tpot is not None else "")
            + f"{knees}; bars: 95% CI over cycles of each cycle's p90.",
            metric="tpot_p90_s",
            axis_label="TPOT p90 (ms)",
            scale=1e3,
            threshold=tpot,
        ),
    ]
    if service_level is not None:
        plots.append(
            ServingPlot(
                "serving_goodput.png",
                "Goodput (requests completed within the SLO per second of the measured window) vs load"
                f"{knees}; bars: 95% CI over cycles.",
                metric="goodput_rps",
                axis_label="Goodput (requests/s)",
                scale=1.0,
            )
        )
    return tuple(plots)


def serving_section(
    experiments: pd.DataFrame, service_level: slo.ServiceLevel | None
) -> ServingSection | None:
    """The serving section of the report; None when the campaign has no server-mode experiment
    with a measured run."""
    served = server_experiments(experiments)
    if served.empty or f"{ENERGY_PER_REQUEST}_mean" not in served.columns:
        return None
    served = served[served[f"{ENERGY_PER_REQUEST}_n"] > 0]
    if served.empty:
        return None
    configuration = configuration_columns(served)
    load_column = load_axis(served)
    table = sorted_by_load(served, configuration)
    groups = table.groupby(configuration, dropna=False, sort=False) if configuration else [((), table)]
    lines = []
    for _, rows in groups:
        rows = rows[rows[load_column].notna()]
        if rows.empty:
            continue
        label = config_label(rows.iloc[0], configuration) if configuration else ""
        lines.append(ServingLine(label, rows, knee(rows, load_column)))
    has_slo = service_level is not None
    return ServingSection(
        load_column=load_column,
        load_name=_load_name(load_column, saturated(served)),
        lines=tuple(lines),
        plots=_plots(lines, service_level),
        table=serving_table(table, configuration),
        slo_text=(
            f"SLO: {service_level.describe()}. A request is good when it completed and its TTFT and "
            "TPOT are within the thresholds; goodput counts the good requests completed in the "
            "measured window per second; SLO met: at least 90% of the window's requests are good."
            if service_level is not None
            else "No SLO in the campaign: add slo: {ttft_p90_s: …, tpot_p90_s: …} and run camp report "
            "again to count goodput (nothing is re-run)."
        ),
        knees=tuple(t for t in (knee_text(line, load_column, has_slo) for line in lines) if t),
    )


def load_positions(values: pd.Series) -> tuple[np.ndarray, list[float], list[str], bool]:
    """Where each load goes on the x axis, the ticks and their labels, and whether the axis is
    log2: loads spanning ≥ 8× go on a log2 axis; an infinite rate one step past the largest
    finite load, labelled ``inf``."""
    loads = values.astype(float).to_numpy()
    finite = loads[np.isfinite(loads)]
    distinct = sorted(set(finite.tolist()))
    log = bool(distinct) and min(distinct) > 0 and max(distinct) / min(distinct) >= 8
    place = np.log2 if log else (lambda x: x)
    positions = np.array([place(v) if math.isfinite(v) else math.nan for v in loads], dtype=float)
    ticks = [float(place(v)) for v in distinct]
    labels = [f"{v:g}" for v in distinct]
    if np.isinf(loads).any():
        step = np.diff(ticks).min() if len(ticks) > 1 else 1.0
        beyond = (ticks[-1] + step) if ticks else 0.0
        positions[np.isinf(loads)] = beyond
        ticks.append(beyond)
        labels.append("inf")
    return positions, ticks, labels, log

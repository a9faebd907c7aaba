"""Server-mode experiments as text: which rows they are, their load, and the serving table
``camp run`` and ``camp report`` print under the per-experiment summary (rate, achieved rate,
J/request, TTFT p90, TPOT p90, goodput, SLO met; each header names its unit as the report's
serving table does), each figure a mean with its 95% interval
over cycles."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from orchestrator import aggregate, serving_plan, slo
from orchestrator.report.formatting import (
    MISSING,
    config_label,
    energy_unit,
    is_missing,
    label_columns,
    metric_interval,
)
from orchestrator.serving_plan import LOAD_COLUMNS

SERVING_WIDTH = 100
RATE, CONCURRENCY = LOAD_COLUMNS


def server_experiments(experiments: pd.DataFrame) -> pd.DataFrame:
    """The experiments that ran in server mode (none in an offline campaign)."""
    if "workload.mode" not in experiments.columns:
        return experiments.iloc[0:0]
    return experiments[experiments["workload.mode"].astype("string").fillna("") == "server"]


def load_axis(experiments: pd.DataFrame) -> str:
    """The load column of these server experiments: the request rate, else the concurrency."""
    if RATE in experiments.columns and experiments[RATE].notna().any():
        return RATE
    return CONCURRENCY


def load_text(row: pd.Series) -> str:
    """``rate=16/s``, ``rate=inf`` or ``concurrency=8``: one experiment's load, as its label and
    the experiments table write it."""
    rate: Any = row.get(RATE)
    concurrency: Any = row.get(CONCURRENCY)
    text = serving_plan.load_text(
        None if is_missing(rate) else float(rate), None if is_missing(concurrency) else float(concurrency)
    )
    return text or MISSING


def saturated(experiments: pd.DataFrame) -> bool:
    """Whether any of these experiments ran at ``rate=inf`` (the saturation point)."""
    return RATE in experiments.columns and bool(np.isinf(experiments[RATE].astype(float)).any())


SATURATION_NOTE = (
    "rate=inf is the saturation point: n_requests sent at once and each replaced as it finishes, "
    "so its achieved rate is the server's throughput when kept full"
)


def configuration_columns(experiments: pd.DataFrame) -> list[str]:
    """The swept config columns other than the load: one line per setting of them."""
    return [c for c in label_columns(experiments) if c not in LOAD_COLUMNS]


def slo_met_text(row: pd.Series) -> str:
    """``yes (96%)``, ``no (41%)`` or ``—`` without an SLO."""
    met = row.get(aggregate.SLO_MET_COLUMN)
    if is_missing(met):
        return MISSING
    return f"{'yes' if met else 'no'} ({row['slo_attainment_pct_mean']:.0f}%)"


def sorted_by_load(experiments: pd.DataFrame, configuration: list[str]) -> pd.DataFrame:
    """Rows by configuration, then by load ascending (inf last)."""
    axis = load_axis(experiments)
    keys = [*configuration, axis] if axis in experiments.columns else configuration
    return experiments.sort_values(keys, kind="stable", na_position="last") if keys else experiments


def format_serving_summary(experiments: pd.DataFrame, service_level: slo.ServiceLevel | None) -> list[str]:
    """The serving table (no lines for an offline campaign)."""
    served = server_experiments(experiments)
    if served.empty or "achieved_rate_rps_mean" not in served.columns:
        return []
    configuration = configuration_columns(served)
    table = sorted_by_load(served, configuration)
    unit = energy_unit(table["energy_per_request_j_mean"])
    from orchestrator.report.terminal import text_table  # terminal prints this table: no cycle at import

    rows: list[tuple[str, ...]] = [
        (
            str(row["exp_id"]),
            load_text(row),
            config_label(row, configuration),
            metric_interval(row, "achieved_rate_rps"),
            metric_interval(row, "energy_per_request_j", unit.scale),
            metric_interval(row, "ttft_p90_s", 1e3),
            metric_interval(row, "tpot_p90_s", 1e3),
            metric_interval(row, "goodput_rps") if "goodput_rps_mean" in row.index else MISSING,
            slo_met_text(row),
        )
        for _, row in table.iterrows()
    ]
    headers: tuple[str, ...] = (
        "exp_id",
        "load",
        "config",
        "achieved (req/s)",
        f"{unit.name}/request",
        "TTFT p90 (ms)",
        "TPOT p90 (ms)",
        "goodput (req/s)",
        "SLO met",
    )
    if not configuration:  # nothing but the load tells these experiments apart: no config column
        rows = [(row[0], row[1], *row[3:]) for row in rows]
        headers = (*headers[:2], *headers[3:])
    lines = ["", "serving (95% CI over cycles):"]
    right = set(range(len(headers) - 6, len(headers)))  # the figures; the labels read from the left
    # only the config gives way to the width: an exp_id or a load cut short would read as another
    width = SERVING_WIDTH if configuration else sys.maxsize
    lines += text_table(headers, rows, right=right, shrinking=len(headers) - 7, width=width)
    if service_level is None:
        note = (
            "no slo in the campaign: no goodput (add slo: {ttft_p90_s: …, tpot_p90_s: …}, then camp "
            "report counts it without re-running)"
        )
    else:
        note = (
            f"SLO: {service_level.describe()}; goodput = good requests completed in the measured "
            "window per second; SLO met = attainment ≥ 90% (docs/measurement.md, Goodput and the SLO)"
        )
    if saturated(table):
        note += f"; {SATURATION_NOTE}"
    lines.extend(textwrap.wrap(note, SERVING_WIDTH))
    return lines

"""What ``camp run`` and ``camp report`` print: the per-experiment table with its intervals, the
``--by`` tables, and the warned runs per kind, fitted to a terminal's width."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from orchestrator import aggregate, grouping, slo, stats, warned
from orchestrator.comparison import Comparison
from orchestrator.report.formatting import (
    ENERGY,
    MISSING,
    THROUGHPUT,
    EnergyUnit,
    config_label,
    format_number,
    format_percent,
    label_columns,
    metric_interval,
    metric_title,
    metric_unit,
    short_method,
    sorted_by_config,
)
from orchestrator.report.serving_text import format_serving_summary

THROUGHPUT_UNIT = metric_unit(THROUGHPUT).name  # tokens/s
SUMMARY_WIDTH = 100
SUMMARY_MAX_ROWS = 60
_MIN_N = stats.BOOTSTRAP_T_MIN_N


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
        metric_interval(row, ENERGY, unit.scale),
        metric_interval(row, THROUGHPUT),
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
    table = sorted_by_config(experiments, columns)
    unit = metric_unit(ENERGY, table[f"{ENERGY}_mean"])
    energy_header = f"{unit.name} (95% CI)"
    shown = table.head(max_rows)
    rows = [
        (str(row["exp_id"]), config_label(row, columns), *_interval_cells(row, unit), *extra)
        for (_, row), extra in zip(shown.iterrows(), _warned_cells(shown), strict=True)
    ]
    throughput_header = f"{THROUGHPUT_UNIT} (95% CI)"
    headers = ("exp_id", "config", energy_header, throughput_header, "n", "CI", *_warned_headers(table))
    lines = text_table(headers, rows, right={2, 3, 4, 6, 7}, shrinking=1, width=width)
    if len(table) > max_rows:
        lines.append(f"… {len(table) - max_rows} more experiments: see the report")
    legend = (
        f"CI: 95% interval of the mean over cycles; t = Student-t (n < {_MIN_N}; t+ at n = 3: its "
        f"quantile at {100 * stats.WIDENED_T_LEVELS[3]:.0f}%, skew-safe), boot-t = "
        f"bootstrap-t (n ≥ {_MIN_N}), sd=0 = zero variance, n=1 = no interval, t* = Student-t where "
        "tied values leave bootstrap-t undefined"
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
    unit = metric_unit(ENERGY, table[f"{ENERGY}_mean"])
    rows = [
        (
            *(MISSING if pd.isna(row[c]) else str(row[c]) for c in grouped.by),
            str(row["experiments"]),
            *_interval_cells(row, unit),
        )
        for _, row in table.iterrows()
    ]
    headers = (*grouped.by, "exps", f"{unit.name} (95% CI)", f"{THROUGHPUT_UNIT} (95% CI)", "n", "CI")
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
    experiment whose cycles loaded different model commits or ran on different camp builds, images,
    GPU models or nodes."""
    found = (
        aggregate.mixed_revision_warnings(tables.runs)
        + aggregate.mixed_build_warnings(tables.runs)
        + aggregate.mixed_hardware_warnings(tables.runs)
    )
    warnings = [f"warning: {w}" for w in found]
    run_warnings = warned.summary_lines(tables.runs, tables.excluded_kinds, width=SUMMARY_WIDTH)
    unreadable = [f"not in these tables (unreadable): {u}" for u in tables.unreadable]
    serving = format_serving_summary(tables.experiments, tables.slo)
    return "\n".join([format_summary(tables.experiments), *serving, *run_warnings, *warnings, *unreadable])


def summary_text(campaign_dir: Path) -> str:
    """The terminal summary of a campaign's done runs (writes the aggregate tables too).

    Printed after the runs are safely recorded, so a run dir that cannot be aggregated is
    reported in the text instead of raised."""
    try:
        tables = aggregate.aggregate_campaign(
            campaign_dir, request_stats=False, service_level=slo.snapshot_slo(campaign_dir)
        )
    except aggregate.AggregationError as err:
        return f"cannot summarise: {err}"
    except OSError as err:  # disk full, read-only volume: the runs are recorded; say where
        return f"cannot write the summary tables ({err.filename or ''}: {err.strerror or err})"
    return format_campaign_summary(tables)


# Config fields the comparison always shows (others only where A and B differ).
_ALWAYS_SHOWN = ("backend", "model", "params")
_SHORT_METRIC = {
    "energy_per_output_token_j": "energy per token",
    "throughput_tokens_per_s": "throughput",
    "energy_per_request_j": "energy per request",
    "avg_power_w": "avg power",
    "latency_mean_s": "mean latency",
}


def format_comparison(comparison: Comparison, *, width: int = SUMMARY_WIDTH) -> str:
    """``camp compare``: both configurations side by side (differing fields first, marked ``≠``),
    then each metric's B − A with its 95% interval and B vs A as a percentage of A, each row in
    its own unit; the first metric's result said in words."""
    a, b = comparison.a, comparison.b
    lines = [f"A = {a.exp_id}  {a.label}", f"B = {b.exp_id}  {b.label}", ""]
    shown = [f for f in comparison.fields if f.differs or f.name.split(".")[0] in _ALWAYS_SHOWN]
    shown.sort(key=lambda f: not f.differs)  # the differing fields first, each marked ≠
    config_rows = [("≠" if f.differs else "", f.name, f.value_a, f.value_b) for f in shown]
    lines += text_table(("", "config", "A", "B"), config_rows, right=set(), shrinking=1, width=width)
    hidden = len(comparison.fields) - len(shown)
    if hidden:
        lines.append(
            f"   … {hidden} more fields, the same in both (workload, measurement, …; --json lists all)"
        )
    lines.append("")
    rows = []
    for m in comparison.metrics:
        unit = metric_unit(m.metric, [m.mean_a, m.mean_b])

        def num(value: float, scale: float = unit.scale) -> str:
            return format_number(value * scale)

        ci = MISSING if not math.isfinite(m.low) else f"[{num(m.low)}, {num(m.high)}]"
        p = MISSING if not math.isfinite(m.p_value) else "<0.001" if m.p_value < 0.001 else f"{m.p_value:.3f}"
        name = _SHORT_METRIC.get(m.metric, metric_title(m.metric))
        values = (num(m.mean_a), num(m.mean_b), num(m.difference), ci, format_percent(m.relative))
        rows.append((name, unit.name, *values, p, str(m.n)))
    headers = ("metric", "unit", "A", "B", "B − A", "95% CI of B − A", "B vs A", "p", "n")
    lines += text_table(headers, rows, right={2, 3, 4, 5, 6, 7, 8}, shrinking=0, width=width)
    if comparison.metrics:
        first = comparison.metrics[0]
        name = _SHORT_METRIC.get(first.metric, metric_title(first.metric))
        lines.append(
            f"B vs A: {format_percent(first.relative)} {name}, relative to A "
            f"(paired over {first.n} cycle{'s' if first.n != 1 else ''})"
        )
    methods = ", ".join(sorted({m.method for m in comparison.metrics}))
    legend = (
        f"B vs A = (B − A) / A; method: {methods}; 95% interval of the mean per-cycle difference "
        "B − A, over the cycles both completed"
    )
    lines.extend(textwrap.wrap(legend, width))
    return "\n".join(lines)

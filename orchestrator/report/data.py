"""What the HTML report shows, computed once from ``aggregate.CampaignTables``: its tables as text
cells (experiments, Pareto front, warned runs by kind), the plots it has with their captions and
the points they draw. The figures draw from it and the page template lays it out; neither
computes a number of its own."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from camp_contract import layout
from orchestrator import aggregate, grouping, stats, warned
from orchestrator.report.formatting import (
    ENERGY,
    THROUGHPUT,
    cell_text,
    config_label,
    format_interval,
    label_columns,
    metric_interval,
    metric_unit,
    si_unit,
    sorted_by_config,
    with_unit,
)
from orchestrator.report.methods import methods_paragraph
from orchestrator.report.traces import trace_key
from orchestrator.serving_plan import LOAD_COLUMNS

if TYPE_CHECKING:
    from orchestrator.report.serving_data import ServingSection

MAX_SERIES = 8  # lines in one energy plot: the colours of figures.PALETTE
MAX_CATEGORIES = 16
MAX_WARNING_ROWS = 200  # per kind on the page; warnings.csv has them all
PARETO_PNG = "pareto.png"
LATENCY_PNG = "energy_vs_latency.png"
LATENCY = "latency_mean_s"

# What the page can say: no finished run yet; every run left out by --exclude-warned; numbers.
State = Literal["no_runs", "all_excluded", "measured"]


# ---------------------------------------------------------------- what each plot draws


def plotted_parameters(experiments: pd.DataFrame) -> list[str]:
    """Swept config columns with at least two values to put on an axis — and, when they are not
    numbers, at most ``MAX_CATEGORIES`` of them (more would be an unreadable axis)."""
    chosen = []
    for column in aggregate.swept_columns(experiments):
        if column in LOAD_COLUMNS:  # a server-mode load: the serving section plots against it
            continue
        values = experiments[column].dropna()
        numeric = pd.to_numeric(values, errors="coerce").notna().all()
        if values.nunique() >= 2 and (numeric or values.nunique() <= MAX_CATEGORIES):
            chosen.append(column)
    return chosen


@dataclass(frozen=True)
class EnergySeries:
    """The points of one energy-vs-parameter plot: (legend label, rows with the ENERGY interval
    columns) per line, what the intervals are over, and per line the observations each interval
    is made of (the parameter and ENERGY per cycle, or per experiment where pooled), drawn
    beside it so a reader sees the spread and n, not only the bar."""

    lines: list[tuple[str, pd.DataFrame]]
    over: str  # "cycles" or "per-experiment means"
    points: list[pd.DataFrame] = field(default_factory=list)  # one per line, same order


def energy_series(experiments: pd.DataFrame, runs: pd.DataFrame, parameter: str) -> EnergySeries:
    """One line per setting of the other swept fields; with more combinations than colours, one
    line pooling the experiments per value of the parameter. A pooled point's interval is over
    its experiments' means (n = experiments), as ``camp report --by`` takes it: their runs are
    not repeats of one measurement."""
    others = [c for c in label_columns(experiments) if c != parameter]
    # Experiments without this parameter (another backend) have no place on its axis.
    experiments = experiments[experiments[parameter].notna()]
    if others and experiments.groupby(others, dropna=False).ngroups > MAX_SERIES:
        placed = runs[runs[parameter].notna()]
        grouped = grouping.grouped_summary(placed, [parameter], [ENERGY])
        pooled = grouped.unit == grouping.UNIT_EXPERIMENTS
        label = "pooled over other settings" + (" (n = experiments)" if pooled else "")
        points = (
            placed.groupby("exp_id", sort=True)[[parameter, ENERGY]].agg({parameter: "first", ENERGY: "mean"})
            if pooled
            else placed[[parameter, ENERGY]]
        )
        return EnergySeries(
            [(label, grouped.table)], "per-experiment means" if pooled else "cycles", [points]
        )
    if others:
        lines = [
            (config_label(group.iloc[0], others) if len(others) > 1 else str(group.iloc[0][others[0]]), group)
            for _, group in sorted_by_config(experiments, others).groupby(others, dropna=False, sort=False)
        ]
        return EnergySeries(lines, "cycles", [cycle_points(runs, group, parameter) for _, group in lines])
    return EnergySeries([("", experiments)], "cycles", [cycle_points(runs, experiments, parameter)])


def cycle_points(runs: pd.DataFrame, experiments: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """The parameter and energy per token of every run (cycle) of ``experiments``."""
    return runs.loc[runs["exp_id"].isin(experiments["exp_id"]), [parameter, ENERGY]]


def bars_note(frames: Sequence[pd.DataFrame], over: str, metrics: Sequence[str] = (ENERGY,)) -> str:
    """``bars: 95% CI over cycles (bootstrap-t; n = 5)``: what the error bars of a plot are."""
    methods = sorted(
        {
            str(m).removesuffix(stats.ZERO_VARIANCE)
            for f in frames
            for metric in metrics
            for m in f[f"{metric}_method"].dropna()
        }
    )
    ns = [int(v) for f in frames for v in f[f"{ENERGY}_n"].dropna()]
    counted = "" if not ns else f"; n = {min(ns)}" if min(ns) == max(ns) else f"; n = {min(ns)}–{max(ns)}"
    return f"bars: 95% CI over {over} ({', '.join(methods)}{counted})"


def pareto_bars_note(experiments: pd.DataFrame, other: str = THROUGHPUT) -> str:
    """A Pareto plot's bars: both axes' intervals, over cycles."""
    return bars_note([experiments], "cycles", (ENERGY, other))


# ---------------------------------------------------------------- the page's parts


@dataclass(frozen=True)
class Table:
    """A table as the page shows it: header and rows of text cells (the template escapes them)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Table:
        """The frame's columns and rows, each cell as ``formatting.cell_text``."""
        return cls(
            tuple(str(c) for c in frame.columns),
            tuple(tuple(cell_text(v) for v in row) for row in frame.itertuples(index=False)),
        )


@dataclass(frozen=True)
class Plot:
    """One PNG of the report folder and the caption (also its alt text) the page gives it."""

    filename: str
    caption: str


@dataclass(frozen=True, eq=False)
class EnergyPlot(Plot):
    parameter: str
    series: EnergySeries


@dataclass(frozen=True, eq=False)
class ParetoPlot(Plot):
    front: np.ndarray  # per experiment: on the Pareto front (``stats.pareto_front``)


@dataclass(frozen=True, eq=False)
class LatencyPlot(Plot):
    """Energy per token against mean request latency: lower is better on both axes."""

    experiments: pd.DataFrame  # those with a latency
    front: np.ndarray  # per row of ``experiments``: on the energy–latency Pareto front


@dataclass(frozen=True)
class TraceOption:
    """One run in the trace viewer's list: its key, its trace script (relative to the page) and
    the label the list shows."""

    key: str
    src: str
    label: str


@dataclass(frozen=True)
class TraceViewer:
    """Power, temperature and clock traces of any run, picked from a list; opens on ``selected``,
    the run nearest the median energy per token."""

    options: tuple[TraceOption, ...]
    selected: str
    caption: str


@dataclass(frozen=True)
class ByTable:
    """``camp report --by FIELD`` as the page shows it: the intervals per value of the fields."""

    title: str
    note: str  # what n counts
    table: Table


@dataclass(frozen=True)
class WarningGroup:
    """The warned runs of one kind: its heading, one row per run, and how many rows the page
    leaves to warnings.csv."""

    kind: str
    summary: str  # "4 runs in 2 experiments, excluded from the intervals"
    table: Table
    more: int


@dataclass(frozen=True, eq=False)
class ReportData:
    """One campaign's page: the template reads only this, the figures draw only from it. What
    it holds depends on ``state``: with no runs, only the counts and the tables' folder."""

    campaign: str
    generated: str
    n_runs: int
    n_experiments: int
    state: State
    tables_dir: str  # the aggregate tables, relative to the report folder
    banner: str = ""  # how many runs are warned and whether the intervals include them
    # experiments whose cycles are not repeats of one measurement: other model commits, camp
    # builds, images, GPU models or nodes
    mixed: tuple[str, ...] = ()
    experiment_table: Table | None = None
    methods: tuple[str, ...] = ()  # the methods paragraph's sentences
    energy_plots: tuple[EnergyPlot, ...] = ()
    pareto: ParetoPlot | None = None
    pareto_table: Table | None = None
    latency: LatencyPlot | None = None
    latency_table: Table | None = None
    by_tables: tuple[ByTable, ...] = ()
    traces: TraceViewer | None = None
    warnings: tuple[WarningGroup, ...] = ()
    warnings_hint: str = warned.DOCS_HINT
    # The frames the figures draw: experiments, and the runs the intervals use.
    experiments: pd.DataFrame = field(default_factory=pd.DataFrame)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Server-mode experiments against their load (serving_data.py); None for an offline campaign.
    serving: ServingSection | None = None

    @property
    def plots(self) -> list[Plot]:
        """Every PNG the page shows, in page order."""
        serving = self.serving.plots if self.serving is not None else ()
        shown: list[Plot | None] = [*self.energy_plots, self.pareto, self.latency, *serving]
        return [p for p in shown if p is not None]


def report_data(
    campaign_dir: Path,
    tables: aggregate.CampaignTables,
    *,
    by: Sequence[Sequence[str]] = (),
    trace_files: Mapping[str, str] | None = None,
) -> ReportData:
    """Everything the page shows for a campaign's aggregated ``tables``: ``by``, the field lists
    of ``camp report --by`` (a table per swept field is shown anyway); ``trace_files``, run key →
    trace script (``traces.write_trace_files``), the runs the trace viewer offers."""
    campaign_dir = Path(campaign_dir)
    experiments, runs = tables.experiments, tables.kept_runs  # plots show what the intervals use
    tables_dir = os.path.relpath(layout.aggregate_dir(campaign_dir), layout.report_dir(campaign_dir))
    data = ReportData(
        campaign=campaign_dir.name,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        n_runs=len(tables.runs),
        n_experiments=experiments["exp_id"].nunique() if not experiments.empty else 0,
        state="no_runs",
        tables_dir=Path(tables_dir).as_posix(),
    )
    if tables.runs.empty:
        return data
    data = replace(
        data,
        state="all_excluded",  # --exclude-warned left no run: the table still says what was excluded
        banner=warned_banner(tables),
        mixed=tuple(
            aggregate.mixed_revision_warnings(tables.runs)
            + aggregate.mixed_build_warnings(tables.runs)
            + aggregate.mixed_hardware_warnings(tables.runs)
        ),
        experiment_table=experiment_table(experiments, tables.request_latency),
        warnings=warning_groups(tables, experiments),
        experiments=experiments,
        runs=runs,
    )
    if runs.empty:
        return data
    from orchestrator.report.serving_data import serving_section  # it builds on this module's parts

    front = stats.pareto_front(experiments[f"{THROUGHPUT}_mean"], experiments[f"{ENERGY}_mean"])
    latency = latency_plot(experiments)
    return replace(
        data,
        state="measured",
        methods=methods_paragraph(tables.runs, experiments, tables.excluded_kinds),
        energy_plots=tuple(energy_plot(experiments, runs, p) for p in plotted_parameters(experiments)),
        pareto=ParetoPlot(
            PARETO_PNG,
            "Throughput vs energy per output token; filled: Pareto front (no other configuration is both "
            f"faster and cheaper); {pareto_bars_note(experiments)}.",
            front=front,
        ),
        pareto_table=experiment_table(experiments[front], tables.request_latency),
        latency=latency,
        latency_table=(
            experiment_table(latency.experiments[latency.front], tables.request_latency) if latency else None
        ),
        by_tables=by_tables(runs, experiments, by),
        traces=trace_viewer(tables.runs, experiments, trace_files or {}),
        serving=serving_section(experiments, tables.slo),
    )


def energy_plot(experiments: pd.DataFrame, runs: pd.DataFrame, parameter: str) -> EnergyPlot:
    series = energy_series(experiments, runs, parameter)
    note = bars_note([group for _, group in series.lines], series.over)
    return EnergyPlot(
        filename=f"energy_vs_{slug(parameter)}.png",
        caption=f"Energy per output token vs {parameter}; {note}.",
        parameter=parameter,
        series=series,
    )


def latency_plot(experiments: pd.DataFrame) -> LatencyPlot | None:
    """Energy per token against mean request latency with their Pareto front, where at least
    two experiments have a latency (a backend that records no per-request latency has none)."""
    if f"{LATENCY}_mean" not in experiments.columns:
        return None
    shown = experiments[np.isfinite(experiments[f"{LATENCY}_mean"].astype(float))]
    if len(shown) < 2:
        return None
    # Lower latency is better, as higher throughput is: the front of (−latency, energy).
    front = stats.pareto_front(-shown[f"{LATENCY}_mean"].astype(float), shown[f"{ENERGY}_mean"])
    return LatencyPlot(
        LATENCY_PNG,
        "Energy per output token vs mean request latency; filled: Pareto front (no other configuration "
        f"is both quicker to answer and cheaper); {pareto_bars_note(shown, LATENCY)}.",
        experiments=shown,
        front=front,
    )


def by_tables(
    runs: pd.DataFrame, experiments: pd.DataFrame, by: Sequence[Sequence[str]]
) -> tuple[ByTable, ...]:
    """One table per swept field, then each ``--by`` field list asked for that is not one of
    them (combinations such as ``--by backend --by batch_size``)."""
    wanted = [[column] for column in aggregate.swept_columns(experiments)]
    for fields in by:
        resolved = grouping.resolve_fields(runs, fields)
        if resolved not in wanted:
            wanted.append(resolved)
    return tuple(by_table(grouping.grouped_summary(runs, fields)) for fields in wanted)


def by_table(grouped: grouping.GroupedSummary) -> ByTable:
    """The grouped intervals as text cells, with what n counts (``terminal.format_grouped``'s
    columns)."""
    table = grouped.table
    shown = pd.DataFrame({field.split(".")[-1]: table[field].to_numpy() for field in grouped.by})
    shown["experiments"] = table["experiments"].to_numpy()
    for metric, header in ((ENERGY, "energy"), (THROUGHPUT, "throughput")):
        unit = metric_unit(metric, table[f"{metric}_mean"])
        shown[with_unit(header, unit)] = [metric_interval(r, metric, unit.scale) for _, r in table.iterrows()]
    shown["n"] = table[f"{ENERGY}_n"].to_numpy()
    shown["interval"] = [str(m).removesuffix(stats.ZERO_VARIANCE) for m in table[f"{ENERGY}_method"]]
    if grouped.unit == grouping.UNIT_EXPERIMENTS:
        note = (
            "Groups pool several experiments: n counts experiments, and the 95% interval is over their "
            "per-experiment means (the spread of the pooled configurations, not repeatability)."
        )
    else:
        note = "One experiment per group: n counts cycles; 95% interval of the mean over cycles."
    return ByTable(f"By {', '.join(grouped.by)}", note, Table.of(shown))


def trace_viewer(
    runs: pd.DataFrame, experiments: pd.DataFrame, trace_files: Mapping[str, str]
) -> TraceViewer | None:
    """Every run with a trace, in config order, the list opening on the run nearest the median
    energy per token of the runs the intervals use."""
    if not trace_files or runs.empty:
        return None
    columns = label_columns(experiments)
    labels = {row["exp_id"]: config_label(row, columns) for _, row in experiments.iterrows()}
    order = {exp_id: i for i, exp_id in enumerate(sorted_by_config(experiments, columns)["exp_id"])}
    listed = runs.assign(
        _key=[trace_key(str(e), int(c)) for e, c in zip(runs["exp_id"], runs["cycle"], strict=True)]
    )
    listed = listed[listed["_key"].isin(trace_files)]
    if listed.empty:
        return None
    listed = listed.assign(_order=listed["exp_id"].map(order).fillna(len(order))).sort_values(
        ["_order", "exp_id", "cycle"], kind="stable"
    )
    options = tuple(
        TraceOption(
            key=row["_key"],
            src=trace_files[row["_key"]],
            label=f"{row['exp_id']} c{row['cycle']} — {labels.get(row['exp_id'], '')}"
            + (" (excluded)" if bool(row.get("excluded", False)) else ""),
        )
        for _, row in listed.iterrows()
    )
    kept = listed[~listed["excluded"].astype(bool)] if "excluded" in listed.columns else listed
    pool = kept if not kept.empty else listed
    distance = (pool[ENERGY] - pool[ENERGY].median()).abs()
    keys = pool["_key"].to_numpy()
    selected = str(keys[int(np.nanargmin(distance.to_numpy()))]) if distance.notna().any() else options[0].key
    return TraceViewer(
        options,
        selected,
        "Power, GPU temperature and SM clock of the chosen run (opens on the run nearest the median "
        "energy per token); shaded: measured window; dotted: the idle baseline subtracted.",
    )


def slug(text: str) -> str:
    """A file-name-safe form of a column name: ``params.batch_size`` → ``params_batch_size``."""
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "param"


def experiment_table(experiments: pd.DataFrame, latency: pd.DataFrame) -> Table:
    """The report's summary table: swept config, then each metric as mean ± interval."""
    columns = label_columns(experiments)
    table = sorted_by_config(experiments, columns)
    shown = table[["exp_id", *columns]].rename(columns={c: c.split(".")[-1] for c in columns})

    def interval(metric: str, header: str) -> None:
        """The metric's intervals as a column in one unit (its prefix chosen for this table),
        the unit in the header; cells made from the columns, not row by row."""
        unit = metric_unit(metric, table[f"{metric}_mean"])
        bounds = (table[f"{metric}_{part}"] for part in ("mean", "low", "high"))
        shown[with_unit(header, unit)] = [
            format_interval(mean, low, high, unit.scale) for mean, low, high in zip(*bounds, strict=True)
        ]

    interval(ENERGY, "energy")
    interval(THROUGHPUT, "throughput")
    interval("energy_per_request_j", "energy")
    interval("avg_power_w", "avg power")
    methods = [table[f"{m}_method"] for m in (ENERGY, THROUGHPUT, "energy_per_request_j", "avg_power_w")]
    if not latency.empty and "exp_id" in latency.columns and len(latency.columns) > 1:
        merged = table[["exp_id"]].merge(latency, on="exp_id", how="left")
        latency_metric = aggregate.REQUEST_LATENCY
        latency_unit = si_unit("s", merged[f"{latency_metric}_mean"])
        shown[with_unit("request latency", latency_unit)] = [
            metric_interval(row, latency_metric, latency_unit.scale) for _, row in merged.iterrows()
        ]
        methods.append(merged[f"{latency_metric}_method"].set_axis(table.index))
    shown["n"] = table[f"{ENERGY}_n"].to_numpy()
    # The methods of the row's intervals, each named once (a zero-width interval shows itself).
    shown["interval"] = [
        "; ".join(dict.fromkeys(m.removesuffix(stats.ZERO_VARIANCE) for m in row if isinstance(m, str)))
        for row in zip(*methods, strict=True)
    ]
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
    return Table.of(shown)


def warned_banner(tables: aggregate.CampaignTables) -> str:
    """The line at the top of the report that says how many runs are warned and whether the
    intervals include them; empty when no run is."""
    runs = tables.runs
    if runs.empty or not (runs["n_warnings"] > 0).any():
        return ""
    n_warned, n_out = int((runs["n_warnings"] > 0).sum()), int(runs["excluded"].sum())
    text = f"⚠ {n_warned} of {len(runs)} runs carry warnings (see Warnings below): "
    if n_out:
        return text + (
            f"the {n_out} with {', '.join(tables.excluded_kinds)} {'is' if n_out == 1 else 'are'} left "
            "out of every interval and plot (camp report --exclude-warned); the others are in them."
        )
    return text + (
        "their numbers are in every interval and plot (camp report --exclude-warned KIND leaves them out)."
    )


def warning_groups(tables: aggregate.CampaignTables, experiments: pd.DataFrame) -> tuple[WarningGroup, ...]:
    """Every run warning, grouped by kind (most runs first): which runs, their configuration,
    the message, and whether the run is in the intervals."""
    kinds = warned.kind_summary(tables.runs, tables.excluded_kinds)
    if not kinds:
        return ()
    columns = label_columns(experiments)
    labels = {row["exp_id"]: config_label(row, columns) for _, row in experiments.iterrows()}
    listed = tables.warnings.merge(
        tables.runs[["exp_id", "cycle", "excluded"]], on=["exp_id", "cycle"], how="left"
    )
    groups = []
    for kind in kinds:
        runs_text = f"{kind.runs} run{'s' if kind.runs != 1 else ''}"
        exps_text = f"{kind.experiments} experiment{'s' if kind.experiments != 1 else ''}"
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
        groups.append(
            WarningGroup(
                kind=kind.kind,
                summary=f"{runs_text} in {exps_text}, {kind.status()}",
                table=Table.of(table.head(MAX_WARNING_ROWS)),
                more=max(0, len(table) - MAX_WARNING_ROWS),
            )
        )
    return tuple(groups)

"""What the HTML report shows, computed once from ``aggregate.CampaignTables``: its tables as text
cells (experiments, Pareto front, warned runs by kind), the plots it has with their captions and
the points they draw. The figures draw from it and the page template lays it out; neither
computes a number of its own."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from camp_contract import layout
from orchestrator import aggregate, grouping, stats, warned
from orchestrator.report.formatting import (
    ENERGY,
    THROUGHPUT,
    cell_text,
    config_label,
    energy_unit,
    format_interval,
    label_columns,
    sorted_by_config,
)
from orchestrator.report.traces import representative_run

MAX_SERIES = 8  # lines in one energy plot: the colours of figures.PALETTE
MAX_CATEGORIES = 16
MAX_WARNING_ROWS = 200  # per kind on the page; warnings.csv has them all
PARETO_PNG = "pareto.png"
POWER_PNG = "power_timeseries.png"
_MIN_N = stats.BOOTSTRAP_T_MIN_N
METHODS_NOTE = (
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

# What the page can say: no finished run yet; every run left out by --exclude-warned; numbers.
State = Literal["no_runs", "all_excluded", "measured"]


# ---------------------------------------------------------------- what each plot draws


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


@dataclass(frozen=True)
class EnergySeries:
    """The points of one energy-vs-parameter plot: (legend label, rows with the ENERGY interval
    columns) per line, and what the intervals are over."""

    lines: list[tuple[str, pd.DataFrame]]
    over: str  # "cycles" or "per-experiment means"


def energy_series(experiments: pd.DataFrame, runs: pd.DataFrame, parameter: str) -> EnergySeries:
    """One line per setting of the other swept fields; with more combinations than colours, one
    line pooling the experiments per value of the parameter. A pooled point's interval is over
    its experiments' means (n = experiments), as ``camp report --by`` takes it: their runs are
    not repeats of one measurement."""
    others = [c for c in label_columns(experiments) if c != parameter]
    # Experiments without this parameter (another backend) have no place on its axis.
    experiments = experiments[experiments[parameter].notna()]
    if others and experiments.groupby(others, dropna=False).ngroups > MAX_SERIES:
        grouped = grouping.grouped_summary(runs[runs[parameter].notna()], [parameter], [ENERGY])
        pooled = grouped.unit == grouping.UNIT_EXPERIMENTS
        label = "pooled over other settings" + (" (n = experiments)" if pooled else "")
        return EnergySeries([(label, grouped.table)], "per-experiment means" if pooled else "cycles")
    if others:
        lines = [
            (config_label(group.iloc[0], others) if len(others) > 1 else str(group.iloc[0][others[0]]), group)
            for _, group in sorted_by_config(experiments, others).groupby(others, dropna=False, sort=False)
        ]
        return EnergySeries(lines, "cycles")
    return EnergySeries([("", experiments)], "cycles")


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


def pareto_bars_note(experiments: pd.DataFrame) -> str:
    """The Pareto plot's bars: both axes' intervals, over cycles."""
    return bars_note([experiments], "cycles", (ENERGY, THROUGHPUT))


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
class PowerPlot(Plot):
    run: pd.Series
    trace: pd.DataFrame
    title: str


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
    methods_note: str = ""
    energy_plots: tuple[EnergyPlot, ...] = ()
    pareto: ParetoPlot | None = None
    pareto_table: Table | None = None
    power: PowerPlot | None = None
    warnings: tuple[WarningGroup, ...] = ()
    warnings_hint: str = warned.DOCS_HINT
    # The frames the figures draw: experiments, and the runs the intervals use.
    experiments: pd.DataFrame = field(default_factory=pd.DataFrame)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def plots(self) -> list[Plot]:
        """Every PNG the page shows, in page order."""
        shown: list[Plot | None] = [*self.energy_plots, self.pareto, self.power]
        return [p for p in shown if p is not None]


def report_data(campaign_dir: Path, tables: aggregate.CampaignTables) -> ReportData:
    """Everything the page shows for a campaign's aggregated ``tables``."""
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
    front = stats.pareto_front(experiments[f"{THROUGHPUT}_mean"], experiments[f"{ENERGY}_mean"])
    return replace(
        data,
        state="measured",
        methods_note=METHODS_NOTE,
        energy_plots=tuple(energy_plot(experiments, runs, p) for p in plotted_parameters(experiments)),
        pareto=ParetoPlot(
            PARETO_PNG,
            "Throughput vs energy per output token; filled: Pareto front (no other configuration is both "
            f"faster and cheaper); {pareto_bars_note(experiments)}.",
            front=front,
        ),
        pareto_table=experiment_table(experiments[front], tables.request_latency),
        power=power_plot(experiments, runs, campaign_dir),
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


def power_plot(experiments: pd.DataFrame, runs: pd.DataFrame, campaign_dir: Path) -> PowerPlot | None:
    """The power trace of the run nearest the median energy per token, if any run has one."""
    chosen = representative_run(runs, campaign_dir)
    if chosen is None:
        return None
    run, trace = chosen
    columns = label_columns(experiments)
    exp_row = experiments.loc[experiments["exp_id"] == run["exp_id"]].iloc[0]
    return PowerPlot(
        filename=POWER_PNG,
        caption=f"Power trace of run {run['exp_id']}/c{run['cycle']} (the run nearest the median "
        "energy per token); shaded: measured window; dotted: the idle baseline subtracted.",
        run=run,
        trace=trace,
        title=f"Power of {run['exp_id']} c{run['cycle']} ({config_label(exp_row, columns)})",
    )


def slug(text: str) -> str:
    """A file-name-safe form of a column name: ``params.batch_size`` → ``params_batch_size``."""
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "param"


def experiment_table(experiments: pd.DataFrame, latency: pd.DataFrame) -> Table:
    """The report's summary table: swept config, then each metric as mean ± interval."""
    columns = label_columns(experiments)
    table = sorted_by_config(experiments, columns)
    unit = energy_unit(table[f"{ENERGY}_mean"])
    shown = table[["exp_id", *columns]].rename(columns={c: c.split(".")[-1] for c in columns})

    def interval(metric: str, scale: float = 1.0) -> list[str]:
        bounds = (table[f"{metric}_{part}"] for part in ("mean", "low", "high"))
        return [format_interval(mean, low, high, scale) for mean, low, high in zip(*bounds, strict=True)]

    shown[f"{unit.name}/output token"] = interval(ENERGY, unit.scale)
    shown["tokens/s"] = interval(THROUGHPUT)
    shown["J/request"] = interval("energy_per_request_j")
    shown["avg power (W)"] = interval("avg_power_w")
    methods = [table[f"{m}_method"] for m in (ENERGY, THROUGHPUT, "energy_per_request_j", "avg_power_w")]
    if not latency.empty and "exp_id" in latency.columns and len(latency.columns) > 1:
        merged = table[["exp_id"]].merge(latency, on="exp_id", how="left")
        shown["request latency (ms)"] = [
            format_interval(m, lo, hi, 1e3)
            for m, lo, hi in zip(merged["mean"], merged["low"], merged["high"], strict=True)
        ]
        methods.append(merged["method"].set_axis(table.index))
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

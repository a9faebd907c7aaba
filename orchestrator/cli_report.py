"""``camp report`` and ``camp compare``: registered on the main ``camp`` group with add_command."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from camp_contract import layout
from orchestrator.cli_common import EXIT_BAD_CONFIG, EXIT_FAILED, load_or_exit, results_option

if TYPE_CHECKING:
    from orchestrator import stats

COMPARE_METRICS = (
    "energy_per_output_token_j",
    "throughput_tokens_per_s",
    "energy_per_request_j",
    "avg_power_w",
    "latency_mean_s",
)


def resolve_campaign_dir(target: Path, results_dir: Path) -> Path:
    """A results directory as given, or the campaign file's ``<results>/<name>``."""
    if target.is_dir():
        return target
    campaign_dir = layout.campaign_dir(results_dir, load_or_exit(target).name)
    if not campaign_dir.is_dir():
        click.echo(f"error: no results at {campaign_dir}: run `camp run {target}` first", err=True)
        raise SystemExit(EXIT_FAILED)
    return campaign_dir


target_argument = click.argument("target", type=click.Path(path_type=Path, exists=True))


@click.command()
@target_argument
@results_option
@click.option(
    "--by",
    "fields",
    multiple=True,
    metavar="FIELD",
    help="Also summarise per value of this config field (repeatable): backend, model, "
    "params.batch_size or just batch_size, workload.max_output_tokens, …",
)
@click.option(
    "--exclude-warned",
    "exclude_kinds",
    multiple=True,
    metavar="KIND",
    help="Leave runs with this warning kind out of every interval (repeatable; 'all': any "
    "warning): throttled, negative_energy, short_window, … (docs/measurement.md).",
)
def report(target: Path, results_dir: Path, fields: tuple[str, ...], exclude_kinds: tuple[str, ...]) -> None:
    """Aggregate the done runs of TARGET (results dir or campaign file) and write the HTML report."""
    from orchestrator import aggregate, grouping, warned
    from orchestrator.report import format_campaign_summary, format_grouped, write_report

    campaign_dir = resolve_campaign_dir(target, results_dir)
    try:
        tables = aggregate.aggregate_campaign(campaign_dir, exclude_warned=exclude_kinds)
        grouped = grouping.grouped_summary(tables.kept_runs, fields) if fields else None
        index = write_report(campaign_dir, tables, by=[fields] if fields else ())
    except OSError as err:  # a read-only volume, a full disk: report what was read, say where
        tables = aggregate.aggregate_campaign(campaign_dir, write=False, exclude_warned=exclude_kinds)
        click.echo(format_campaign_summary(tables))
        click.echo(f"error: cannot write {err.filename or campaign_dir}: {err.strerror or err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except aggregate.AggregationError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except (grouping.UnknownField, warned.UnknownWarningKind) as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    if exclude_kinds and not tables.excluded_kinds:
        click.echo("--exclude-warned all: no run carries a warning, nothing was excluded")
    click.echo(format_campaign_summary(tables))
    if grouped is not None:
        name = "by_" + "+".join(grouped.by)
        aggregate.write_table(grouped.table, layout.aggregate_dir(campaign_dir), name)
        click.echo(f"\nby {', '.join(grouped.by)}:")
        click.echo(format_grouped(grouped))
    click.echo(f"tables: {layout.aggregate_dir(campaign_dir)}")
    click.echo(f"report: {index}")
    if tables.unreadable:
        click.echo(
            f"error: {len(tables.unreadable)} problem(s) named above: the report holds every valid run; "
            "`camp run` again redoes the runs whose result.json is missing or invalid",
            err=True,
        )
        raise SystemExit(EXIT_FAILED)


def format_comparison(rows: list[stats.PairedComparison], exp_a: str, exp_b: str) -> str:
    """A paired-comparison table, one metric a line, difference = A − B."""
    width = max(len("metric"), *(len(r.metric) for r in rows))
    header = f"{'metric':<{width}} {'A':>10} {'B':>10} {'A−B':>10} {'95% CI of A−B':>22} "
    header += f"{'A−B %':>7} {'p':>6} {'n':>3}"
    lines = [f"A = {exp_a}   B = {exp_b}   (paired by cycle)", header, "-" * len(header)]

    def num(value: float) -> str:
        return "—" if not math.isfinite(value) else f"{value:.4g}"

    for row in rows:
        ci = "—" if not math.isfinite(row.low) else f"[{row.low:.3g}, {row.high:.3g}]"
        relative = "—" if not math.isfinite(row.relative_diff) else f"{100 * row.relative_diff:+.1f}"
        p = (
            "—"
            if not math.isfinite(row.p_value)
            else "<0.001"
            if row.p_value < 0.001
            else f"{row.p_value:.3f}"
        )
        lines.append(
            f"{row.metric:<{width}} {num(row.mean_a):>10} {num(row.mean_b):>10} {num(row.mean_diff):>10} "
            f"{ci:>22} {relative:>7} {p:>6} {row.n:>3}"
        )
    methods = sorted({r.method for r in rows})
    lines.append(f"method: {', '.join(methods)}; 95% interval of the mean per-cycle difference")
    return "\n".join(lines)


@click.command()
@target_argument
@click.argument("exp_a")
@click.argument("exp_b")
@results_option
@click.option(
    "--metric", "metrics", multiple=True, help="Metric column(s) to compare (default: the main ones)."
)
def compare(target: Path, exp_a: str, exp_b: str, results_dir: Path, metrics: tuple[str, ...]) -> None:
    """Paired comparison of experiments EXP_A and EXP_B of TARGET over their common cycles."""
    from orchestrator import aggregate, stats

    campaign_dir = resolve_campaign_dir(target, results_dir)
    try:
        runs = aggregate.runs_table(aggregate.done_run_dirs(campaign_dir))
    except aggregate.AggregationError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    known = set(runs["exp_id"]) if not runs.empty else set()
    for exp_id in (exp_a, exp_b):
        if exp_id not in known:
            hint = ", ".join(sorted(known)[:20]) or "none"
            click.echo(
                f"error: no done runs of experiment {exp_id!r} in {campaign_dir}; done: {hint}", err=True
            )
            raise SystemExit(EXIT_BAD_CONFIG)
    chosen = metrics or COMPARE_METRICS
    unknown = [m for m in chosen if m not in runs.columns]
    if unknown:
        click.echo(
            f"error: unknown metric(s) {', '.join(unknown)}; columns: {', '.join(runs.columns)}", err=True
        )
        raise SystemExit(EXIT_BAD_CONFIG)
    by_cycle = runs.set_index("cycle")
    rows = [
        stats.paired_comparison(
            by_cycle.loc[by_cycle["exp_id"] == exp_a, metric],
            by_cycle.loc[by_cycle["exp_id"] == exp_b, metric],
            metric,
        )
        for metric in chosen
    ]
    click.echo(format_comparison(rows, exp_a, exp_b))

"""``camp report`` and ``camp compare``: registered on the main ``camp`` group with add_command."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from camp_contract import layout
from orchestrator.cli_common import EXIT_BAD_CONFIG, EXIT_FAILED, load_or_exit, results_option
from orchestrator.json_output import emit, to_stderr

if TYPE_CHECKING:
    from orchestrator import aggregate, grouping, slo


def resolve_campaign_dir(target: Path, results_dir: Path) -> Path:
    """A results directory as given, the campaign file's ``<results>/<name>``, or a campaign's
    name under ``results_dir`` — as ``camp status`` takes them (an unknown one: exit 2, with
    the campaigns there and a did-you-mean)."""
    from orchestrator.status_text import UnknownTarget, resolve_target

    try:
        campaign_dir = resolve_target(str(target), results_dir, lambda path: load_or_exit(path).name)
    except UnknownTarget as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    if not campaign_dir.is_dir():
        click.echo(f"error: no results at {campaign_dir}: run `camp run {target}` first", err=True)
        raise SystemExit(EXIT_FAILED)
    return campaign_dir


def service_level(target: Path, campaign_dir: Path) -> slo.ServiceLevel | None:
    """The SLO goodput is counted under: the campaign file's as it is now (so an edited SLO
    re-aggregates without re-running), or for a results directory or a campaign's name the
    campaign's as last run."""
    from orchestrator import slo

    return load_or_exit(target).slo if target.is_file() else slo.snapshot_slo(campaign_dir)


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="For scripts: print one JSON document on stdout, nothing else (shape: docs/api.md).",
)


# a results directory, a campaign file or a campaign's name (under --results-dir), as `camp status`
target_argument = click.argument("target", type=click.Path(path_type=Path))


def report_json(
    campaign_dir: Path, tables: aggregate.CampaignTables, grouped: grouping.GroupedSummary | None, index: Path
) -> dict[str, Any]:
    """``camp report --json``: where the files are, and the experiments (and ``--by``) tables as
    rows in base units (docs/api.md)."""
    from orchestrator.json_output import records

    return {
        "campaign_dir": str(campaign_dir),
        "report": str(index),
        "tables_dir": str(layout.aggregate_dir(campaign_dir)),
        "runs": len(tables.runs),
        "excluded_kinds": list(tables.excluded_kinds),
        "experiments": records(tables.experiments),
        "by": None
        if grouped is None
        else {"fields": list(grouped.by), "n_counts": grouped.unit, "rows": records(grouped.table)},
        "unreadable": list(tables.unreadable),
    }


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
@json_option
def report(
    target: Path, results_dir: Path, fields: tuple[str, ...], exclude_kinds: tuple[str, ...], as_json: bool
) -> None:
    """Aggregate the done runs of TARGET and write the HTML report. TARGET is the campaign's
    results directory, its file or its name (under --results-dir)."""
    from orchestrator import aggregate, grouping, warned
    from orchestrator.report import format_campaign_summary, format_grouped, write_report

    say = to_stderr if as_json else click.echo  # with --json, stdout is the document alone

    campaign_dir = resolve_campaign_dir(target, results_dir)
    level = service_level(target, campaign_dir)
    try:
        tables = aggregate.aggregate_campaign(campaign_dir, exclude_warned=exclude_kinds, service_level=level)
        grouped = grouping.grouped_summary(tables.kept_runs, fields) if fields else None
        index = write_report(campaign_dir, tables, by=[fields] if fields else ())
    except OSError as err:  # a read-only volume, a full disk: report what was read, say where
        tables = aggregate.aggregate_campaign(
            campaign_dir, write=False, exclude_warned=exclude_kinds, service_level=level
        )
        say(format_campaign_summary(tables))
        click.echo(f"error: cannot write {err.filename or campaign_dir}: {err.strerror or err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except aggregate.AggregationError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except (grouping.UnknownField, warned.UnknownWarningKind) as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    if exclude_kinds and not tables.excluded_kinds:
        say("--exclude-warned all: no run carries a warning, nothing was excluded")
    if grouped is not None:
        name = "by_" + "+".join(grouped.by)
        aggregate.write_table(grouped.table, layout.aggregate_dir(campaign_dir), name)
    if as_json:
        emit("report", report_json(campaign_dir, tables, grouped, index))
    else:
        click.echo(format_campaign_summary(tables))
        if grouped is not None:
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


def _manifest_labels(campaign_dir: Path) -> dict[str, str]:
    """Each experiment's label as ``camp plan`` and ``camp status`` show it; none without a
    readable manifest."""
    from orchestrator.manifest import Manifest, ManifestDamaged

    try:
        with Manifest.open_readonly(campaign_dir) as manifest:
            return {row.exp_id: row.label for row in manifest.runs()}
    except (OSError, ManifestDamaged, sqlite3.Error):
        return {}


@click.command()
@target_argument
@click.argument("exp_a")
@click.argument("exp_b")
@results_option
@click.option(
    "--metric", "metrics", multiple=True, help="Metric column(s) to compare (default: the main ones)."
)
@json_option
def compare(
    target: Path, exp_a: str, exp_b: str, results_dir: Path, metrics: tuple[str, ...], as_json: bool
) -> None:
    """Paired comparison of experiments EXP_A and EXP_B of TARGET (results directory, campaign file
    or name) over their common cycles: B − A, relative to A. Each is an exp_id, a unique prefix of
    one, or a label (`batch_size=8`)."""
    from orchestrator import aggregate, comparison
    from orchestrator.report import format_comparison

    campaign_dir = resolve_campaign_dir(target, results_dir)
    try:
        runs = aggregate.runs_table(aggregate.done_run_dirs(campaign_dir))
    except aggregate.AggregationError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    labels = comparison.experiment_labels(runs, _manifest_labels(campaign_dir))
    try:
        chosen = [comparison.resolve_experiment(token, labels) for token in (exp_a, exp_b)]
    except comparison.ExperimentChoiceError as err:
        click.echo(f"error: {err} (in {campaign_dir})", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    wanted = metrics or comparison.DEFAULT_METRICS
    unknown = [m for m in wanted if m not in runs.columns]
    if unknown:
        click.echo(
            f"error: unknown metric(s) {', '.join(unknown)}; columns: {', '.join(runs.columns)}", err=True
        )
        raise SystemExit(EXIT_BAD_CONFIG)
    result = comparison.compare_experiments(runs, chosen[0], chosen[1], wanted, labels)
    if as_json:
        emit("compare", comparison.as_json(result, str(campaign_dir)))
    else:
        click.echo(format_comparison(result))

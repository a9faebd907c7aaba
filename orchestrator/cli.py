"""The ``camp`` command line.

Exit codes: 0 everything asked for is done, 1 a run failed (or the campaign could not run),
2 the campaign file (or an ``-s`` override) is bad, or a change that drops done runs from the
aggregates was not confirmed (nothing was run or written), 130 stopped by Ctrl-C (wherever it
lands: start-up, the runs, the closing summary), 143 stopped by SIGTERM (handled as Ctrl-C).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli_calibrate import calibrate
from orchestrator.cli_common import (
    EXIT_BAD_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    confirm_change_or_exit,
    expand_or_exit,
    load_or_exit,
    results_option,
    set_option,
    yes_option,
)
from orchestrator.cli_report import compare, json_option, report

# Everything else is imported inside the command that needs it: `camp --help` and `camp
# --version` start with click alone (no pydantic, yaml, pandas, python-on-whales, matplotlib).
if TYPE_CHECKING:
    from orchestrator.campaign import Campaign
    from orchestrator.doctor import Check
    from orchestrator.executors import Runtime
    from orchestrator.grid import Expansion
    from orchestrator.progress_view import ProgressView

COMPOSE_FILENAME = "compose.yaml"


def default_compose_file() -> Path:
    """compose.yaml in the working directory, else the one shipped beside this package."""
    here = Path.cwd() / COMPOSE_FILENAME
    return here if here.is_file() else Path(__file__).resolve().parent.parent / COMPOSE_FILENAME


def _echo(message: str) -> None:
    click.echo(message)


class RegisteredExecutor(click.Choice[str]):
    """``--executor``'s choices: the registry's as it is when the option is read, so an executor
    registered after this module was imported is accepted, as in a campaign's ``executor:``."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from orchestrator.executors import executor_choices

        return tuple(executor_choices())

    @choices.setter
    def choices(self, _: object) -> None:
        pass  # the registry is the one list


# camp_contract.backends.PLUGINS_VARIABLE, named here so that a command that needs no backend
# (`camp status`) starts without importing the registry (a test checks they agree)
PLUGINS_VARIABLE = "CAMP_PLUGINS"

site_option = click.option(
    "--site",
    "site_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The cluster's site.yaml (partition, account, runtime on the nodes, …): --executor slurm.",
)
campaign_argument = click.argument("campaign_file", type=click.Path(path_type=Path, dir_okay=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="camp", prog_name="camp")
def main() -> None:
    """camp: measure the energy of LLM inference, campaign by campaign."""
    if not os.environ.get(PLUGINS_VARIABLE, "").strip():
        return  # no plugins: the registry (pydantic, the contract's models) loads when used
    from camp_contract.backends import PluginError, load_plugins

    try:
        load_plugins()  # backends registered by modules named in CAMP_PLUGINS
    except PluginError as err:
        click.echo(f"camp: {err}", err=True)
        sys.exit(EXIT_BAD_CONFIG)


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write it to this file (atomically) instead of printing it.",
)
@click.option(
    "--markdown",
    "markdown_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Instead, write the field references generated from it into this folder: campaign.md and "
    "backends.md (docs/reference is them).",
)
def schema(output: Path | None, markdown_dir: Path | None) -> None:
    """Print the JSON Schema of a campaign file, every registered backend's parameters included.

    Editors complete and check a campaign that names it on its first line:
    `# yaml-language-server: $schema=<path or URL of the schema>`.
    """
    import json

    from camp_contract.atomic import atomic_write_text
    from orchestrator.campaign import campaign_json_schema

    if markdown_dir is not None:
        _write_references(markdown_dir)
        return
    text = json.dumps(campaign_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    atomic_write_text(output, text)
    click.echo(f"wrote {output}")


def _write_references(folder: Path) -> None:
    from camp_contract.atomic import atomic_write_text
    from orchestrator.reference_docs import references

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in references().items():
        atomic_write_text(folder / name, text)
        click.echo(f"wrote {folder / name}")


@main.command()
@campaign_argument
@results_option
@click.option(
    "--executor",
    type=RegisteredExecutor(),
    default=None,
    help="Override the campaign's executor.",
)
@click.option(
    "--compose-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=default_compose_file,
    show_default="./compose.yaml",
    help="Compose file defining one service per backend.",
)
@site_option
@set_option
@yes_option
@json_option
def run(
    campaign_file: Path,
    results_dir: Path,
    executor: str | None,
    compose_file: Path,
    site_file: Path | None,
    overrides: tuple[str, ...],
    yes: bool,
    as_json: bool,
) -> None:
    """Run (or resume) every pending run of CAMPAIGN_FILE.

    On a terminal it shows the runs in flight live (phase, elapsed, ETA); elsewhere one line per
    finished run. The aggregate tables and the HTML report are refreshed when it ends, however
    it ends."""
    from orchestrator.json_output import to_stderr
    from orchestrator.progress_view import make_view
    from orchestrator.signals import EXIT_TERMINATED, Terminated, interruption_cause, sigterm_as_interrupt

    if as_json:  # stdout is the one document: the live view (on a terminal) or the lines go to stderr
        from rich.console import Console

        view = make_view(to_stderr, Console(stderr=True))
    else:
        view = make_view(_echo)
    with sigterm_as_interrupt():
        try:
            _run(campaign_file, results_dir, executor, compose_file, site_file, overrides, yes, view, as_json)
        except KeyboardInterrupt as err:  # start-up, the runs or the closing summary: all alike
            view.close()
            click.echo(f"\n{interrupted_message(interruption_cause(err), view.interrupted)}", err=True)
            raise SystemExit(EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED) from None


def interrupted_message(cause: str, in_flight: list[str]) -> str:
    """What Ctrl-C (or SIGTERM) stopped: the runs in flight, or none (a gap, start-up, the
    closing summary: nothing was lost)."""
    if not in_flight:
        return f"interrupted by {cause}: no run was in flight; `camp run` again resumes the campaign"
    runs = "; ".join(in_flight)
    return (
        f"interrupted by {cause}: {len(in_flight)} run(s) in flight marked interrupted ({runs}); "
        "`camp run` again resumes from them"
    )


def _run(
    campaign_file: Path,
    results_dir: Path,
    executor: str | None,
    compose_file: Path,
    site_file: Path | None,
    overrides: tuple[str, ...],
    yes: bool,
    view: ProgressView,
    as_json: bool = False,
) -> None:
    import sqlite3

    from orchestrator.config_errors import ConfigError
    from orchestrator.executors import ExecutorUnavailable
    from orchestrator.json_output import emit, to_stderr
    from orchestrator.lock import CampaignLocked
    from orchestrator.manifest import Manifest, ManifestDamaged
    from orchestrator.runner import CampaignRunner
    from orchestrator.signals import EXIT_TERMINATED, Terminated, interruption_cause

    say = to_stderr if as_json else _echo  # with --json, stdout is the final document alone

    campaign = load_or_exit(campaign_file, overrides)
    expansion = expand_or_exit(campaign, campaign_file)
    _confirm_what_a_change_drops(campaign, expansion, results_dir, yes)
    try:
        chosen, notice = make_executor(executor or campaign.executor, compose_file, site_file)
    except ConfigError as err:
        click.echo(str(err), err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    except ExecutorUnavailable as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    if notice:
        click.echo(f"notice: {notice}", err=True)
    runner = CampaignRunner(
        campaign, results_dir, chosen, say, overrides=overrides, view=view, expansion=expansion
    )
    try:
        outcome = runner.run()
    except CampaignLocked as err:  # another `camp run` holds it: its outputs are its own
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except KeyboardInterrupt as err:
        click.echo(f"\n{interrupted_message(interruption_cause(err), view.interrupted)}", err=True)
        _refresh_quietly(runner.campaign_dir)
        raise SystemExit(EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED) from None
    except (ExecutorUnavailable, ManifestDamaged) as err:
        click.echo(f"error: {err}", err=True)
        _refresh_quietly(runner.campaign_dir)
        raise SystemExit(EXIT_FAILED) from None
    except (OSError, sqlite3.Error) as err:  # a full disk or lost volume: finished runs are kept
        click.echo(
            f"error: {_cannot_write(err)}; every finished run is kept — fix this and `camp run` "
            "again to resume",
            err=True,
        )
        _refresh_quietly(runner.campaign_dir)
        raise SystemExit(EXIT_FAILED) from None
    _print_summary(runner.campaign_dir, say)
    try:
        with Manifest.open_readonly(runner.campaign_dir) as manifest:
            counts = manifest.counts()
    except (OSError, sqlite3.Error, ManifestDamaged) as err:
        click.echo(f"error: {_cannot_write(err)}; `camp run` again to resume", err=True)
        raise SystemExit(EXIT_FAILED) from None
    say(
        f"{counts['done']} done, {counts['failed']} failed, {counts['pending'] + counts['interrupted']} "
        f"pending — results in {runner.campaign_dir}"
    )
    failed_anywhere = counts["failed"] > 0 or outcome.failed > 0 or outcome.breaker_tripped
    exit_code = EXIT_FAILED if failed_anywhere else EXIT_OK
    if as_json:
        from orchestrator.cli_json import run_document

        emit("run", run_document(campaign.name, runner.campaign_dir, counts, outcome, exit_code))
    raise SystemExit(exit_code)


def _confirm_what_a_change_drops(
    campaign: Campaign, expansion: Expansion, results_dir: Path, yes: bool
) -> None:
    """A changed campaign that would leave done runs out of the aggregates says which and asks."""
    from camp_contract import layout
    from orchestrator.campaign_changes import change_lines, dropped_from_aggregates

    campaign_dir = layout.campaign_dir(results_dir, campaign.name)
    dropped = dropped_from_aggregates(campaign_dir, expansion.experiments, campaign.cycles)
    if dropped:
        confirm_change_or_exit(change_lines(dropped), yes)


def make_executor(
    choice: str, compose_file: Path, site_file: Path | None = None
) -> tuple[Runtime, str | None]:
    """The registry's ``make_executor``, imported when a campaign runs (tests replace this)."""
    from orchestrator.executors import make_executor as from_registry

    return from_registry(choice, compose_file, site_file)


def _cannot_write(err: Exception) -> str:
    """An OS error with the path it concerns (disk full, read-only volume, permission)."""
    if isinstance(err, OSError) and err.filename:
        return f"cannot write {err.filename}: {err.strerror or err}"
    return str(err)


def _print_summary(campaign_dir: Path, say: Callable[[str], None] = click.echo) -> None:
    """Refresh the aggregate tables and the report, and print the per-experiment table with
    intervals. Printed after the runs are safely recorded, so a problem is said, not raised."""
    from orchestrator.aggregate import AggregationError
    from orchestrator.outputs import refresh_outputs
    from orchestrator.report import format_campaign_summary

    try:
        refreshed = refresh_outputs(campaign_dir)
    except AggregationError as err:
        say(f"cannot summarise: {err}")
        return
    except OSError as err:  # disk full, read-only volume: the runs are recorded; say where
        say(f"cannot write the tables and the report: {_cannot_write(err)}")
        return
    say(format_campaign_summary(refreshed.tables))
    say(f"report: {refreshed.index}")


def _refresh_quietly(campaign_dir: Path) -> None:
    """After a campaign that stopped early: the tables and the report as far as it got, without
    the summary (a Ctrl-C during it leaves the files as they were, each written atomically)."""
    from camp_contract import layout
    from orchestrator.aggregate import AggregationError
    from orchestrator.outputs import refresh_outputs

    if not layout.manifest_path(campaign_dir).exists():
        return
    try:
        refreshed = refresh_outputs(campaign_dir)
    except (AggregationError, OSError) as err:
        click.echo(f"cannot refresh the tables and the report: {_cannot_write(err)}", err=True)
        return
    except KeyboardInterrupt:
        return
    click.echo(f"report (as far as the campaign got): {refreshed.index}", err=True)


@main.command()
@campaign_argument
@click.option(
    "--runs",
    "show_runs",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="How many runs of the run order to list.",
)
@set_option
@click.option(
    "--resolved",
    is_flag=True,
    help="Print the campaign as camp resolves it (overrides applied, every default filled in) as YAML "
    "(with --json: as the document's 'resolved').",
)
@json_option
def plan(
    campaign_file: Path, show_runs: int, overrides: tuple[str, ...], resolved: bool, as_json: bool
) -> None:
    """Show what CAMPAIGN_FILE would run, without running or writing anything."""
    from collections import Counter

    from orchestrator import serving_plan
    from orchestrator.json_output import emit

    campaign = load_or_exit(campaign_file, overrides)
    if resolved and as_json:  # the same data as the YAML, as the one document
        from orchestrator.resolved import resolved_data

        emit(
            "plan",
            {"campaign": campaign.name, "overrides": list(overrides), "resolved": resolved_data(campaign)},
        )
        return
    if resolved:
        from orchestrator.resolved import resolved_yaml

        click.echo(resolved_yaml(campaign, str(campaign_file), overrides), nl=False)
        return
    expansion = expand_or_exit(campaign, campaign_file)
    if as_json:
        from orchestrator.planning import make_plan

        # every run of the order, not --runs of them; the -s overrides it was given
        emit("plan", {**make_plan(campaign).as_json(), "overrides": list(overrides)})
        return
    per_backend = Counter(e.backend for e in expansion.experiments)
    rejected = Counter(r.backend for r in expansion.rejected)
    click.echo(
        f"campaign {campaign.name!r}: {len(expansion.experiments)} experiments × {campaign.cycles} cycles "
        f"= {len(expansion.experiments) * campaign.cycles} runs ({campaign.order.mode} order)"
    )
    for backend in campaign.backends:
        click.echo(
            f"  {backend}: {per_backend[backend]} experiments, {rejected[backend]} grid points rejected"
        )
    for line in serving_plan.plan_lines(campaign):
        click.echo(line)
    labels = {e.exp_id: e.label() for e in expansion.experiments}
    # one write per section, not one per line: a campaign may list 100k experiments
    click.echo("\nexperiments:\n" + "\n".join(f"  {exp_id}  {label}" for exp_id, label in labels.items()))
    if expansion.rejected:
        click.echo("\nrejected grid points (not run):")
        rejected_lines = []
        for point in expansion.rejected:
            values = " ".join(f"{k}={v}" for k, v in point.point.items())
            rejected_lines.append(f"  {point.backend} {point.model} {values}: {point.reason}")
        click.echo("\n".join(rejected_lines))
    _print_run_order(campaign, labels, show_runs)


def _print_run_order(campaign: Campaign, labels: dict[str, str], show_runs: int) -> None:
    """The first runs in order, and whether any experiment always follows the same one."""
    from orchestrator.carryover import carryover_balance
    from orchestrator.schedule import schedule

    if not labels:
        return
    exp_ids = list(labels)
    order = schedule(exp_ids, campaign.cycles, campaign.order.mode, campaign.order.seed)
    seeded = f", seed {campaign.order.seed}" if campaign.order.mode in ("balanced", "shuffled") else ""
    click.echo(f"\nrun order ({campaign.order.mode}{seeded}):")
    width = len(str(len(order)))
    listed = [
        f"  {position:>{width}}  c{cycle}  {exp_id}  {labels[exp_id]}"
        for position, (exp_id, cycle) in enumerate(order[:show_runs], start=1)
    ]
    if listed:
        click.echo("\n".join(listed))
    if len(order) > show_runs:
        click.echo(f"  … {len(order) - show_runs} more (--runs {len(order)} lists them all)")
    balance = carryover_balance(order)
    if balance.fixed:
        click.echo(
            f"carry-over: {len(balance.fixed)} of {len(exp_ids)} experiments run right after the same "
            "experiment in every cycle, so its heat biases them alike; order.mode balanced spreads it"
        )
    elif len(exp_ids) > 1 and campaign.cycles > 1:
        click.echo(
            "carry-over: no experiment always runs after the same one; how often an experiment follows "
            f"each experiment (itself included) differs by at most {balance.spread}"
        )
    if len(campaign.gpus) > 1:
        click.echo(
            f"  (on {len(campaign.gpus)} GPUs runs start in this order, one per free GPU: each run "
            "follows whatever its GPU ran last)"
        )


@main.command()
@click.argument("target")
@results_option
@json_option
def status(target: str, results_dir: Path, as_json: bool) -> None:
    """Progress of a campaign: TARGET is its campaign file, its results directory or its name
    (under --results-dir)."""
    import sqlite3

    from orchestrator.cli_json import status_document, status_rows
    from orchestrator.json_output import emit_with_rows
    from orchestrator.lock import lock_holder
    from orchestrator.manifest import Manifest, ManifestDamaged
    from orchestrator.status_text import UnknownTarget, resolve_target, status_lines

    try:
        campaign_dir = resolve_target(target, results_dir, lambda path: load_or_exit(path).name)
    except UnknownTarget as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    try:
        with Manifest.open_readonly(campaign_dir) as manifest:
            holder = lock_holder(campaign_dir)
            if as_json:
                counts, runs = manifest.counts(), manifest.run_json()
            else:
                lines = status_lines(campaign_dir, manifest, holder, job_line)
    except (FileNotFoundError, ManifestDamaged) as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    except (OSError, sqlite3.Error) as err:  # a full disk, an unreadable volume
        click.echo(f"error: cannot read the manifest of {campaign_dir}: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    if as_json:
        emit_with_rows(
            "status", status_document(campaign_dir, counts, holder), "runs", status_rows(runs, holder)
        )
        return
    click.echo("\n".join(lines))


def job_line(job_id: str) -> str:
    """``Slurm job 42 RUNNING on node7``; just the id where Slurm does not answer here."""
    from orchestrator.executors.slurm_jobs import SlurmUnavailable, job_state

    try:
        state = job_state(job_id)
    except SlurmUnavailable:
        state = None
    if state is None:
        return f"Slurm job {job_id}"
    where = f" on {state.node}" if state.node and state.running else ""
    return f"Slurm job {job_id} {'queued' if state.state == 'PENDING' else state.state}{where}"


@main.command()
@results_option
@click.option(
    "--compose-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=default_compose_file,
    show_default="./compose.yaml",
)
@click.option("--require-gpu", is_flag=True, help="Treat missing GPU support as a failure, not a warning.")
@click.option(
    "--executor",
    type=click.Choice(["docker", "slurm"]),
    default="docker",
    show_default=True,
    help="What to check: this machine's Docker, or a Slurm cluster (with --site).",
)
@site_option
def doctor(
    results_dir: Path, compose_file: Path, require_gpu: bool, executor: str, site_file: Path | None
) -> None:
    """Check the engine, Compose, the NVIDIA runtime (by a tiny GPU run), images and disk; with
    --executor slurm, the cluster: Slurm's commands, the partition, and a tiny job on a node."""
    if executor == "slurm":
        checks = _slurm_checks(site_file, results_dir)
    else:
        from orchestrator.doctor import compose_client, run_checks

        checks = run_checks(compose_client(compose_file), compose_file, results_dir, require_gpu=require_gpu)
    for check in checks:
        click.echo(check.line())
    raise SystemExit(EXIT_FAILED if any(c.level == "fail" for c in checks) else EXIT_OK)


def _slurm_checks(site_file: Path | None, results_dir: Path) -> list[Check]:
    from orchestrator.config_errors import ConfigError
    from orchestrator.doctor_slurm import run_slurm_checks
    from orchestrator.executors.slurm_site import load_site

    if site_file is None:
        click.echo("error: --executor slurm needs --site site.yaml (partition, runtime, …)", err=True)
        raise SystemExit(EXIT_BAD_CONFIG)
    try:
        site = load_site(site_file)
    except ConfigError as err:
        click.echo(str(err), err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    return run_slurm_checks(site, results_dir)


main.add_command(report)
main.add_command(compare)
main.add_command(calibrate)  # `camp-harness calibrate`, run in a child process

if __name__ == "__main__":
    sys.exit(main())

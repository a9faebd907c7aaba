"""What every ``camp`` command shares: exit codes, the results-dir option, loading a campaign."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported where used, so that `camp --help` starts without pydantic or yaml
    from orchestrator.campaign import Campaign
    from orchestrator.grid import Expansion

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def default_results_root() -> Path:
    return Path(os.environ.get("CAMP_RESULTS_DIR", "results"))


results_option = click.option(
    "--results-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_results_root,
    show_default="$CAMP_RESULTS_DIR or ./results",
    help="The results volume (mounted at /results in the containers).",
)


set_option = click.option(
    "-s",
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a field of the campaign file, e.g. -s cycles=3 -s backends.pytorch.grid.batch_size=[1,8] "
    "(a dotted field; the value is YAML; repeatable).",
)


def load_or_exit(path: Path, overrides: Sequence[str] = ()) -> Campaign:
    """The campaign with its ``-s`` overrides, or its problems on stderr and exit code 2."""
    from orchestrator.campaign import load_campaign
    from orchestrator.config_errors import ConfigError

    try:
        return load_campaign(path, overrides)
    except ConfigError as err:
        click.echo(str(err), err=True)
        raise SystemExit(EXIT_BAD_CONFIG) from None


def expand_or_exit(campaign: Campaign, path: Path) -> Expansion:
    """The campaign's experiments, or exit code 2 when every grid point is rejected (a campaign
    that would run nothing is a mistake in the file, not a success)."""
    from orchestrator.config_errors import ConfigError, ConfigProblem
    from orchestrator.grid import expand

    expansion = expand(campaign)
    if expansion.experiments:
        return expansion
    reasons = sorted({f"{r.backend}: {r.reason}" for r in expansion.rejected})
    shown = "; ".join(reasons[:3]) + (f"; … {len(reasons) - 3} more" if len(reasons) > 3 else "")
    problem = ConfigProblem(
        ("backends",),
        f"every grid point is rejected ({len(expansion.rejected)} of {len(expansion.rejected)}), "
        f"so nothing would run: {shown}",
        "fix the values `camp plan` shows as rejected",
    )
    click.echo(str(ConfigError(path, [problem])), err=True)
    raise SystemExit(EXIT_BAD_CONFIG)


yes_option = click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Run a changed campaign without asking, even where that leaves done runs out of the aggregates.",
)


def stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


def confirm_change_or_exit(lines: list[str], yes: bool) -> None:
    """Show what a changed campaign drops from the aggregates, then go on only if the researcher
    says so (``--yes``, or at the prompt when stdin is a terminal); else exit code 2."""
    for line in lines:
        click.echo(line, err=True)
    if yes:
        return
    if not stdin_is_interactive():
        click.echo("error: the campaign changed (see above); pass --yes to run it anyway", err=True)
        raise SystemExit(EXIT_BAD_CONFIG)
    if not click.confirm("Run the changed campaign?", default=False, err=True):
        click.echo("nothing run: the campaign's results are as they were", err=True)
        raise SystemExit(EXIT_BAD_CONFIG)

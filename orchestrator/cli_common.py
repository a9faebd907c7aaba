"""What every ``camp`` command shares: exit codes, the results-dir option, loading a campaign."""

from __future__ import annotations

import os
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


def load_or_exit(path: Path) -> Campaign:
    """The campaign, or its problems on stderr and exit code 2."""
    from orchestrator.campaign import load_campaign
    from orchestrator.config_errors import ConfigError

    try:
        return load_campaign(path)
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

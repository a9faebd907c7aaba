"""``camp-harness run SPEC``: run one cycle of one experiment inside its container
(and ``camp-harness calibrate``: ``camp calibrate`` where camp's host side is not installed).

Exit 0 only when result.json was written; otherwise a one-line reason on stderr and a non-zero
code (2: the spec is unreadable or invalid, 1: the run failed) — the host records both.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError

from harness import __version__
from harness.calibrate_command import calibrate
from harness.contract import RunSpec
from harness.errors import first_error
from harness.params import contract_fingerprint, parse_params

EXIT_RUN_FAILED, EXIT_BAD_SPEC = 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camp-harness")
def main() -> None:
    """camp's in-container harness."""


@main.command()
@click.argument("spec_path", type=click.Path(path_type=Path, dir_okay=False))
def run(spec_path: Path) -> None:
    """Run the experiment cycle described by SPEC_PATH; write result.json beside it."""
    from harness.run import run_experiment

    try:
        spec = RunSpec.model_validate_json(spec_path.read_bytes())
        parse_params(spec.backend, spec.params)
    except OSError as err:
        _fail(f"cannot read {spec_path}: {err.strerror or err}", EXIT_BAD_SPEC)
    except ValidationError as err:
        # params errors carry no "params" prefix in their location: add it, so the field is findable
        prefix = "" if err.title == RunSpec.__name__ else "params."
        _fail(f"{spec_path} is not a valid spec ({first_error(err, prefix)})", EXIT_BAD_SPEC)
    click.echo(f"camp-harness: {spec.exp_id} c{spec.cycle} {spec.backend} {spec.model}")
    try:
        result = run_experiment(spec, spec_path.parent, results_root=_results_root(spec_path))
    except Exception as err:  # every failure ends in one line the host stores as the reason
        _fail(f"run failed: {type(err).__name__}: {err}", EXIT_RUN_FAILED)
    m = result.metrics
    per_token = (
        f"{m.energy_per_output_token_j:.4g} J/token"
        if math.isfinite(m.energy_per_output_token_j)
        else "J/token undefined (no output tokens)"
    )
    click.echo(
        f"camp-harness: done — {m.energy_adjusted_j:.3f} J adjusted over {m.duration_s:.3f} s, {per_token}"
    )
    for warning in result.warnings:
        click.echo(f"camp-harness: warning [{warning.kind}]: {warning.message}")


@main.command()
def contract() -> None:
    """Print the fingerprint of the spec/result/params schemas this image was built with."""
    click.echo(contract_fingerprint())


main.add_command(calibrate)


def _fail(reason: str, code: int) -> NoReturn:
    """One line on stderr (the host keeps the last line as the reason), then exit ``code``."""
    click.echo("camp-harness: " + " ".join(reason.split()), err=True)
    sys.exit(code)


def _results_root(spec_path: Path) -> Path | None:
    """<root>/<campaign>/<exp_id>/c<cycle>/spec.json → <root>, where the layout is the usual one."""
    parents = spec_path.resolve().parents
    return parents[3] if len(parents) > 3 else None

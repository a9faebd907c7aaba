"""``camp-harness run SPEC``: run one cycle of one experiment inside its container
(and ``camp-harness calibrate``: the meter check ``camp calibrate`` runs).

Exit 0 only when result.json was written; otherwise a one-line reason on stderr, the same
failure recorded in ``error.json`` beside the spec (``camp_contract.failure``), and a non-zero
code (2: the spec is unreadable or invalid, 1: the run failed) — the host records them.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NoReturn

import click

from harness import __version__

# The contract (pydantic and its models) is imported by the commands that use it: `--version`
# and `--help` start Python and click only.
if TYPE_CHECKING:
    from camp_contract.failure import FailureStage, RunFailure

EXIT_RUN_FAILED, EXIT_BAD_SPEC = 1, 2


class LazyGroup(click.Group):
    """A group whose heavier subcommands are imported only when invoked (click's documented
    lazy-loading pattern): ``camp-harness run`` starts once per run, in every container, and
    must not pay for ``calibrate``'s imports (NVML, the calibration bench: ~35 ms)."""

    lazy: ClassVar[dict[str, str]] = {"calibrate": "harness.calibrate_command:calibrate"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, name = self.lazy[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camp-harness")
def main() -> None:
    """camp's in-container harness."""
    from camp_contract.backends import PluginError, load_plugins

    try:
        load_plugins()  # backends registered by modules named in CAMP_PLUGINS
    except PluginError as err:
        raise click.UsageError(str(err)) from None


@main.command()
@click.argument("spec_path", type=click.Path(path_type=Path, dir_okay=False))
def run(spec_path: Path) -> None:
    """Run the experiment cycle described by SPEC_PATH; write result.json beside it."""
    from pydantic import ValidationError

    from camp_contract.failure import RunFailure
    from camp_contract.layout import RunFiles, locate_spec
    from camp_contract.models import RunSpec
    from camp_contract.secrets_mount import load_secrets
    from camp_contract.validation import first_error
    from harness.run import PreflightError, run_experiment

    load_secrets()  # HF_TOKEN from the host's read-only file (absent outside a camp container)
    location = locate_spec(spec_path)
    exp_id, cycle = (location.exp_id, location.cycle) if location else (None, None)

    def fail(stage: FailureStage, err: Exception, message: str, code: int, line: str = "") -> NoReturn:
        failure = RunFailure(
            exp_id=exp_id, cycle=cycle, stage=stage, error_type=type(err).__name__, message=message
        )
        _fail(RunFiles(spec_path.parent).error, failure, line or message, code)

    try:
        spec = RunSpec.model_validate_json(spec_path.read_bytes())  # params typed by its backend
    except OSError as err:
        fail("spec", err, f"cannot read {spec_path}: {err.strerror or err}", EXIT_BAD_SPEC)
    except ValidationError as err:
        fail("spec", err, f"{spec_path} is not a valid spec ({first_error(err)})", EXIT_BAD_SPEC)
    exp_id, cycle = spec.exp_id, spec.cycle
    click.echo(f"camp-harness: {spec.exp_id} c{spec.cycle} {spec.backend} {spec.model}")
    results_root = location.results_root if location else None
    try:
        result = run_experiment(spec, spec_path.parent, results_root=results_root)
    except PreflightError as err:
        fail("preflight", err, "; ".join(err.problems), EXIT_RUN_FAILED, f"run failed: {err}")
    except Exception as err:  # every failure ends in one line the host stores as the reason
        fail("run", err, str(err), EXIT_RUN_FAILED, f"run failed: {type(err).__name__}: {err}")
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
@click.option("--backend", default=None, help="Only what a run of this backend depends on.")
def contract(backend: str | None) -> None:
    """Print the fingerprint of the contract (camp_contract) this image was built with."""
    from camp_contract.backends import UnknownBackend
    from camp_contract.fingerprint import contract_fingerprint  # the timeseries schema: pyarrow

    try:
        click.echo(contract_fingerprint(backend))
    except UnknownBackend as err:
        raise click.BadParameter(str(err), param_hint="--backend") from None


def _fail(error_path: Path, failure: RunFailure, line: str, code: int) -> NoReturn:
    """Record ``failure`` in ``error.json`` (the host's reason for the run), print ``line`` on
    stderr (the host's fallback where no error.json could be written), then exit ``code``."""
    from camp_contract.failure import write_failure

    write_failure(error_path, failure)
    click.echo("camp-harness: " + " ".join(line.split()), err=True)
    sys.exit(code)

"""The ``calibrate`` command: ``camp-harness calibrate`` inside a backend image or on a cluster
node, and ``camp calibrate`` on the host, which runs this same command in a child process (see
``calibrate.py`` for what it measures)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import click

from harness.calibrate import (
    DEFAULT_IDLE_S,
    DEFAULT_SAMPLE_HZ,
    DEFAULT_SETTLE_S,
    DEFAULT_WINDOWS_S,
    Bench,
    CalibrationSettings,
    SourceChoice,
)

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def _seconds_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a comma-separated list of seconds, e.g. 0.3,1,3,10"
        ) from None


def _eta_s(bench: Bench, settings: CalibrationSettings) -> float:
    idles = 2 if bench.hold_context is not None else 1
    return idles * settings.idle_s + settings.settle_s + settings.load_s


@click.command()
@click.option("--gpu", help="The GPU to check: its index (PCI bus order, as nvidia-smi counts) or UUID.")
@click.option(
    "--source",
    type=click.Choice(["auto", "nvml", "synthetic"]),
    default="auto",
    show_default=True,
    help="auto: the GPU where NVML sees one, else the synthetic source (said so in the output).",
)
@click.option(
    "--windows",
    default=",".join(f"{w:g}" for w in DEFAULT_WINDOWS_S),
    show_default=True,
    callback=_seconds_list,
    help="Window lengths to check, in seconds.",
)
@click.option("--sample-hz", type=float, default=DEFAULT_SAMPLE_HZ, show_default=True)
@click.option(
    "--idle-s", type=float, default=DEFAULT_IDLE_S, show_default=True, help="Seconds per idle figure."
)
@click.option(
    "--settle-s",
    type=float,
    default=DEFAULT_SETTLE_S,
    show_default=True,
    help="Seconds of load before sampling starts (clocks and temperature settle).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write every figure to this file as JSON.",
)
def calibrate(
    gpu: str | None,
    source: str,
    windows: tuple[float, ...],
    sample_hz: float,
    idle_s: float,
    settle_s: float,
    json_path: Path | None,
) -> None:
    """Check the energy meter of this GPU: the counter's update step, idle power bare and with a
    CUDA context, and the counter against integrated power on windows of each length, with a
    verdict per length. Without a GPU it checks the synthetic source."""
    from camp_contract.atomic import atomic_write_text
    from harness.calibrate import CalibrationError, open_bench, report_lines, run_calibration, to_json

    try:
        settings = CalibrationSettings(
            windows_s=windows, sample_hz=sample_hz, idle_s=idle_s, settle_s=settle_s
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    try:
        bench = open_bench(cast(SourceChoice, source), gpu, os.environ)
    except CalibrationError as err:
        click.echo(f"error: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    device = bench.source.devices()[0]
    fallback = (
        " (no GPU found: see the notes)" if source == "auto" and bench.source.kind == "synthetic" else ""
    )
    click.echo(
        f"camp calibrate: checking {device.name} ({device.uuid}){fallback}, "
        f"about {_eta_s(bench, settings):.0f} s …"
    )
    try:
        result = run_calibration(bench, settings)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: nothing was written", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as err:  # a driver that fails mid-way: one line, not a traceback
        click.echo(f"error: calibration failed: {type(err).__name__}: {err}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    finally:
        bench.source.close()
    click.echo("\n".join(report_lines(result)))
    if json_path is not None:
        try:
            atomic_write_text(json_path, to_json(result))
        except OSError as err:
            click.echo(f"error: cannot write {json_path}: {err.strerror or err}", err=True)
            raise SystemExit(EXIT_FAILED) from None
        click.echo(f"written: {json_path}")

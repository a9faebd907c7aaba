"""``camp calibrate``: the harness's ``calibrate`` (``camp-harness calibrate``), run in a child
process so that the host imports nothing from the harness. Arguments go through untouched
(``camp calibrate --help`` is the harness's help); its output streams through as it comes, and
its exit code is camp's. Ctrl-C reaches the child once, which stops and says so itself."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import IO

import click

HARNESS_MODULE = "harness"


def harness_command(args: Sequence[str], python: str = sys.executable) -> list[str]:
    """The harness's command line with ``args``: the same interpreter, so the same install."""
    return [python, "-m", HARNESS_MODULE, *args]


def _pump(stream: IO[bytes], err: bool) -> None:
    """Echo ``stream`` line by line; where camp's own output is gone (``| head``), keep reading,
    so the child never blocks on a full pipe."""
    echoing = True
    for line in iter(stream.readline, b""):
        if echoing:
            try:
                click.echo(line.decode(errors="replace"), nl=False, err=err)
            except OSError:
                echoing = False


def run_passing_through(command: Sequence[str]) -> int:
    """Run ``command``, its stdout and stderr echoed line by line as they come; its exit code.
    It has a session of its own, so a Ctrl-C in the terminal reaches camp only, which passes the
    first one on (a second could cut short the child's own clean stop) and waits for it."""
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as err:
        click.echo(f"error: cannot start {command[0]}: {err.strerror or err}", err=True)
        return 1
    assert process.stdout is not None and process.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, False), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, True), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    with _interrupts_passed_to(process):
        code = process.wait()
    for pump in pumps:
        pump.join()
    return code


@contextlib.contextmanager
def _interrupts_passed_to(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """While the child runs, SIGINT (Ctrl-C) is sent on to it, once, instead of raising here."""
    passed = False

    def pass_on(signum: int, frame: object) -> None:
        nonlocal passed
        if not passed:
            passed = True
            process.send_signal(signal.SIGINT)

    try:
        previous = signal.signal(signal.SIGINT, pass_on)
    except ValueError:  # not the main thread: signals are not ours to take
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def calibrate(args: tuple[str, ...]) -> None:
    """Check this GPU's energy meter: how short a window it meters honestly.

    Runs `camp-harness calibrate` with the same arguments: `camp calibrate --help` lists them."""
    raise SystemExit(run_passing_through(harness_command(["calibrate", *args])))

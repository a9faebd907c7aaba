"""SIGTERM as Ctrl-C: ``systemd``, Slurm and ``timeout`` stop camp with SIGTERM, and camp must
then do what Ctrl-C does — stop the runs in flight, mark them interrupted — and exit 143."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports death by SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; handled everywhere a Ctrl-C is."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def interruption_cause(err: BaseException) -> str:
    """What stopped camp, for the manifest's reason and the message."""
    return "SIGTERM" if isinstance(err, Terminated) else "Ctrl-C"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

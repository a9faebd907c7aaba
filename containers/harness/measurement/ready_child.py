"""A helper child process that says when it is ready and stops when told.

The harness keeps CUDA out of its own process (vLLM refuses to fork workers after CUDA was
initialised; a sampler thread must not queue behind a Python compute loop), so whatever needs a
GPU while the harness meters it — an idle CUDA context, ``camp calibrate``'s steady load — runs
in a child: it prints ``READY`` once set up, then works until its stdin closes.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence

READY = "ready"


class ChildNotReady(RuntimeError):
    """The child exited, or hung, before saying it was ready: ``timed_out``, else its last line
    on stderr (``last_words``) or, when it said nothing, its exit code."""

    def __init__(self, timed_out: bool, last_words: str, returncode: int | None):
        self.timed_out, self.last_words, self.returncode = timed_out, last_words, returncode
        super().__init__(last_words or f"exited with code {returncode}")


def start_ready_child(
    argv: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``argv`` and wait (at most ``timeout_s``: a hung driver must not hang the caller)
    for its ``READY`` line; the running child, to be ended by ``stop_child``."""
    child = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
    )
    assert child.stdout is not None and child.stderr is not None
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        child.kill()

    watchdog = threading.Timer(timeout_s, kill_on_timeout)
    watchdog.start()
    try:
        line = child.stdout.readline().strip()
    finally:
        watchdog.cancel()
    if line == READY:
        return child
    child.kill()
    child.wait()
    lines = [x for x in child.stderr.read().splitlines() if x.strip()]
    child.stdout.close()
    child.stderr.close()
    if child.stdin is not None:
        child.stdin.close()
    raise ChildNotReady(timed_out.is_set(), lines[-1].strip() if lines else "", child.returncode)


def stop_child(child: subprocess.Popen[str], grace_s: float = 30.0) -> None:
    """Close its stdin (the sign to stop), wait ``grace_s``, then kill it."""
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    child.stdin.close()
    try:
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    child.stdout.close()
    child.stderr.close()

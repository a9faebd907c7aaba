"""The stub's server started as vLLM's is: a child process of the harness (``stub_server.py``
run with ``python -m``), in its own process group, health-checked and stopped by
``ManagedServer``. The load generator then has the harness's process to itself, as it has
against a real engine.

The synthetic power source stays in the harness (the sampler reads it there): the child reports
each request entering and leaving its batch on a pipe, and ``BusyRelay`` holds one ``busy()`` of
the source per request reported. The source follows the batch as the reports arrive (a local
pipe: tens of microseconds late); its counter remains the exact integral of the power it shows."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path

import harness
from harness.backends.base import Busy
from harness.serving.loopback import free_port
from harness.serving.managed_server import ManagedServer
from harness.serving.stub_server import BUSY, IDLE

HEALTH_POLL_S = 0.05  # the stub is up in well under a second: poll it finely
READ_BYTES = 4096


class BusyRelay:
    """Holds ``busy()`` of the harness's power source once per request the child reports in its
    batch; when the child is gone (the pipe closes) every hold still open is released."""

    def __init__(self, busy: Busy) -> None:
        self._busy = busy
        self._held: list[AbstractContextManager[None]] = []
        self.read_fd, self.write_fd = os.pipe()
        self._thread = threading.Thread(target=self._follow, name="stub-busy-relay", daemon=True)

    def start(self) -> None:
        """Listen; call once the child holds its copy of the write end (ours is closed here, so
        the pipe ends when the child does)."""
        os.close(self.write_fd)
        self._thread.start()

    def _follow(self) -> None:
        try:
            while report := os.read(self.read_fd, READ_BYTES):
                for byte in report:
                    self._apply(bytes((byte,)))
        finally:
            while self._held:
                self._held.pop().__exit__(None, None, None)
            os.close(self.read_fd)

    def _apply(self, report: bytes) -> None:
        if report == BUSY:
            hold = self._busy()
            hold.__enter__()
            self._held.append(hold)
        elif report == IDLE and self._held:
            self._held.pop().__exit__(None, None, None)

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait until the child's end has closed and every hold is released."""
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def held(self) -> int:
        return len(self._held)


class StubServerProcess:
    """The stub's server as a child process, with its batch relayed to ``busy``."""

    def __init__(self, max_batch: int, step_s: float, max_input: int, busy: Busy, model: str = "stub"):
        self.relay = BusyRelay(busy)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "harness.serving.stub_server",
            *("--port", str(port), "--max-batch", str(max_batch), "--step-s", repr(step_s)),
            *("--max-input", str(max_input), "--busy-fd", str(self.relay.write_fd)),
        ]
        try:
            self.server = ManagedServer(
                command,
                port,
                model,
                env=_child_environment(),
                pass_fds=(self.relay.write_fd,),
                health_poll_s=HEALTH_POLL_S,
            )
        finally:
            self.relay.start()
        self.base_url, self.model = self.server.base_url, model

    def wait_healthy(self, timeout_s: float) -> None:
        self.server.wait_healthy(timeout_s)

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            self.relay.close()


def _child_environment() -> dict[str, str]:
    """This environment, with the harness's own directory first on the child's import path (it
    runs ``harness`` and ``camp_contract`` from where this process runs them)."""
    root = str(Path(harness.__file__).resolve().parent.parent)
    path = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}


def start_stub_server(
    max_batch: int, step_s: float, max_input: int, busy: Busy = contextlib.nullcontext, model: str = "stub"
) -> StubServerProcess:
    """Start the stub's server (returns at once; ``wait_healthy`` before sending)."""
    return StubServerProcess(max_batch, step_s, max_input, busy, model)

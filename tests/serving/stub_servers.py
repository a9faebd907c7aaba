"""The stub's server started on its own for tests, as a run starts it (a child process): a known
batch and step, an optional power source whose ``busy()`` it holds per running request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from harness.backends.base import Busy
from harness.serving.stub_process import StubServerProcess, start_stub_server


@contextlib.contextmanager
def stub_server(
    max_batch: int, step_s: float, busy: Busy = contextlib.nullcontext
) -> Iterator[StubServerProcess]:
    server = start_stub_server(max_batch, step_s, max_input=32, busy=busy)
    try:
        server.wait_healthy(10.0)
        yield server
    finally:
        server.stop()

"""The stub's server started on its own for tests: a known batch and step, an optional power
source whose ``busy()`` it holds per running request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from harness.backends.base import Busy
from harness.backends.stub import output_length
from harness.serving.stub_server import StubApp, StubEngine, StubServer


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield


@contextlib.contextmanager
def stub_server(max_batch: int, step_s: float, busy: Busy = nothing) -> Iterator[StubServer]:
    server = StubServer(StubApp(StubEngine(max_batch, step_s, busy), output_length, max_input=32))
    server.start()
    try:
        yield server
    finally:
        server.stop()

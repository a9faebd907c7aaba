"""What a serving backend hands the run: a server on 127.0.0.1 that can be waited on and stopped."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol

from harness.serving.loopback import require_loopback

HEALTH_POLL_S = 0.5


class ServerFailed(RuntimeError):
    """The server did not come up (it exited, or was not healthy in time); the message says which."""


class ServerHandle(Protocol):
    base_url: str  # http://127.0.0.1:PORT
    model: str  # the model name requests carry

    def wait_healthy(self, timeout_s: float) -> None:
        """Return once the server answers ``GET /health`` with 200; ``ServerFailed`` if not."""

    def stop(self) -> None:
        """Stop the server and everything it started; safe to call twice."""


def healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``GET /health`` answers 200 now."""
    url = require_loopback(base_url.rstrip("/") + "/health")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_healthy(
    base_url: str,
    timeout_s: float,
    exited: Callable[[], str | None] = lambda: None,
    poll_s: float = HEALTH_POLL_S,
) -> None:
    """Poll ``/health`` until it answers, the server exits (``exited`` says how) or
    ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if healthy(base_url):
            return
        why = exited()
        if why is not None:
            raise ServerFailed(f"the server {why} before it was healthy")
        if time.monotonic() >= deadline:
            raise ServerFailed(f"the server was not healthy within {timeout_s:g} s ({base_url}/health)")
        time.sleep(poll_s)

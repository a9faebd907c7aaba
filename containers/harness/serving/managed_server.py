"""An engine's own server run as a child process (``vllm serve``, ``trtllm-serve``): started in
its own process group, waited on until healthy, and stopped with everything it spawned — SIGTERM
to the group, SIGKILL after ``stop_timeout_s`` — so no engine worker outlives the run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

from harness.serving.handle import HEALTH_POLL_S, wait_until_healthy
from harness.serving.loopback import LOOPBACK_HOST

STOP_TIMEOUT_S = 30.0


class ManagedServer:
    def __init__(
        self,
        command: Sequence[str],
        port: int,
        model: str,
        env: Mapping[str, str] | None = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        pass_fds: Sequence[int] = (),
        health_poll_s: float = HEALTH_POLL_S,
    ) -> None:
        self.command = list(command)
        self.base_url = f"http://{LOOPBACK_HOST}:{port}"
        self.model = model
        self.stop_timeout_s = stop_timeout_s
        self.health_poll_s = health_poll_s
        # Its output goes where the harness's goes (the container log); ``pass_fds`` are the
        # descriptors it inherits beside its standard streams (the stub's busy pipe).
        self.process = subprocess.Popen(
            self.command,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )

    def _exited(self) -> str | None:
        code = self.process.poll()
        return None if code is None else f"{self.command[0]} exited with code {code}"

    def wait_healthy(self, timeout_s: float) -> None:
        wait_until_healthy(self.base_url, timeout_s, self._exited, self.health_poll_s)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)  # its own session: the group id is its pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        self._signal_group(signal.SIGKILL)  # any child it left behind in its group

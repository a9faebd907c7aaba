"""The local runtime: the same harness as a subprocess, for machines without Docker and for
development. Same spec in, same result out as the docker runtime. The subprocess starts on this
machine, or through the lease's launcher where the placement put the run elsewhere."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING

from camp_contract.image_variables import without_image_variables
from camp_contract.models import BackendName
from orchestrator.executors.runtime import ExecOutcome, RunRequest
from orchestrator.secrets import redact

if TYPE_CHECKING:
    from orchestrator.executors.registry import RuntimeSetup

# Run in the child before it becomes the harness: ask Linux to SIGKILL it when camp dies (even by
# kill -9), so an orphaned harness never goes on measuring — or writing a result — beside the
# attempt that replaces it. prctl survives exec; elsewhere this is a no-op.
_DIE_WITH_PARENT = """
import ctypes, os, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
except (OSError, AttributeError):
    pass
if os.getppid() != parent:
    sys.exit(137)  # camp died before the guard was set
os.execvp(sys.argv[2], sys.argv[2:])  # the lease's launcher, else the harness
"""


def make_runtime(setup: RuntimeSetup) -> LocalRuntime:
    """The registry's hook: the harness under this interpreter (it needs no setup)."""
    return LocalRuntime()


class LocalRuntime:
    name = "local"

    def __init__(self, python: str = sys.executable):
        self.python = python
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def execute(self, request: RunRequest) -> ExecOutcome:
        # The harness finds its own revision from its checkout; image facts a shell exported
        # (CAMP_SOURCE_REVISION for a build) would be false here.
        env = {**without_image_variables(os.environ), **request.env}
        if request.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(request.gpus)
        harness = [self.python, "-m", "harness", "run", str(request.spec_path)]
        command = [self.python, "-c", _DIE_WITH_PARENT, str(os.getpid()), *request.launcher, *harness]
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group, so a timeout kills all of it
            )
        except OSError as err:
            return ExecOutcome(exit_code=None, output="", error=f"cannot start the harness: {err}")
        self._running[request.container_name] = process
        try:
            output, _ = process.communicate(timeout=request.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            output, _ = process.communicate()
            return ExecOutcome(process.returncode, redact(output.decode(errors="replace")), timed_out=True)
        finally:
            self._running.pop(request.container_name, None)
        return ExecOutcome(process.returncode, redact(output.decode(errors="replace")))

    def stop(self, request: RunRequest) -> None:
        process = self._running.get(request.container_name)
        if process is not None:
            _kill_group(process)

    def prepare(self, backends: Collection[BackendName]) -> None:
        pass  # the harness is this checkout's own code: nothing to check

    def cleanup(self, owner: str) -> list[str]:
        return []  # subprocesses die with their session; nothing outlives camp here


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)

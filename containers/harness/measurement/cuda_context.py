"""Hold a CUDA context on the run's GPUs while the idle baseline is measured
(``baseline.method: cuda_context``).

A GPU with a context open sits in a higher power state than a bare idle one, so the two
baselines answer different questions: ``bare_idle`` subtracts the GPU switched on but unused;
``cuda_context`` subtracts a GPU held by an idle process, leaving only the energy of the work.
The context lives in a child process, so the harness's own process stays CUDA-free until the
backend loads (vLLM, for one, refuses to fork workers after CUDA was initialised).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence

READY = "ready"
# One tiny tensor per visible GPU makes a context on each; then wait until stdin closes.
HOLDER_SCRIPT = (
    "import sys, torch\n"
    "n = torch.cuda.device_count()\n"
    "assert n > 0, 'torch sees no CUDA device'\n"
    "held = [torch.zeros(1, device=f'cuda:{i}') for i in range(n)]\n"
    "torch.cuda.synchronize()\n"
    f"print({READY!r}, flush=True)\n"
    "sys.stdin.read()\n"
)


class CudaContextError(RuntimeError):
    """No CUDA context could be opened for the baseline (no torch, no GPU, a driver error)."""


@contextlib.contextmanager
def cuda_context_held(command: Sequence[str] | None = None, timeout_s: float = 120.0) -> Iterator[None]:
    """Inside the block a child process holds a CUDA context on every visible GPU."""
    argv = list(command) if command is not None else [sys.executable, "-c", HOLDER_SCRIPT]
    child = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    timed_out = threading.Event()

    def kill_on_timeout() -> None:  # a hung driver must not hang the run
        timed_out.set()
        child.kill()

    watchdog = threading.Timer(timeout_s, kill_on_timeout)
    watchdog.start()
    try:
        line = child.stdout.readline().strip()
    finally:
        watchdog.cancel()
    if line != READY:
        child.kill()
        child.wait()
        lines = [x for x in child.stderr.read().splitlines() if x.strip()]
        if timed_out.is_set():
            why = f"no context after {timeout_s:g} s"
        elif lines:
            why = lines[-1].strip()
        else:
            why = f"the context holder exited with code {child.returncode}"
        raise CudaContextError(f"baseline method cuda_context could not open a CUDA context: {why}")
    try:
        yield
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()

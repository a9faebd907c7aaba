"""Hold a CUDA context on the run's GPUs while the idle baseline is measured
(``baseline.method: cuda_context``).

A GPU with a context open sits in a higher power state than a bare idle one, so the two
baselines answer different questions: ``bare_idle`` subtracts the GPU switched on but unused;
``cuda_context`` subtracts a GPU held by an idle process, leaving only the energy of the work.
The context lives in a child process (``ready_child.py``), so the harness's own process stays
CUDA-free until the backend loads (vLLM, for one, refuses to fork workers after CUDA was
initialised).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence

from harness.measurement.ready_child import READY, ChildNotReady, start_ready_child, stop_child

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
def cuda_context_held(
    command: Sequence[str] | None = None, timeout_s: float = 120.0, env: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Inside the block a child process holds a CUDA context on every GPU visible in ``env``
    (default: this process's environment)."""
    argv = list(command) if command is not None else [sys.executable, "-c", HOLDER_SCRIPT]
    try:
        child = start_ready_child(argv, timeout_s, env=env)
    except ChildNotReady as err:
        if err.timed_out:
            why = f"no context after {timeout_s:g} s"
        else:
            why = err.last_words or f"the context holder exited with code {err.returncode}"
        raise CudaContextError(f"baseline method cuda_context could not open a CUDA context: {why}") from None
    try:
        yield
    finally:
        stop_child(child)

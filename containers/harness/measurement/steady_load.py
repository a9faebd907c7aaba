"""A steady load to meter, for ``camp calibrate``: the meter is judged on a constant draw, where
the sampled power integral is trustworthy, so what differs from it is the counter's own error.

On a GPU: a torch matmul loop in a child process (``ready_child.py``), so the sampler's process
stays CUDA-free and no compute loop competes with the sampler thread for the GIL. On the
synthetic source: its ``busy()`` level, held while a thread spins the CPU as the stub backend
does, so the sampler meets the same contention as in a stub run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator, Mapping

from harness.measurement.power import PowerSource
from harness.measurement.ready_child import READY, ChildNotReady, start_ready_child, stop_child

MATRIX_SIZE = 8192  # fp16: 128 MiB per matrix; ~1 TFLOP per product keeps any GPU busy
# Products in batches of 8 with a synchronize between, so closing stdin stops it within a batch.
MATMUL_SCRIPT = (
    "import sys, threading, torch\n"
    "assert torch.cuda.is_available(), 'torch sees no CUDA device'\n"
    "n = int(sys.argv[1])\n"
    "a = torch.randn(n, n, device='cuda:0', dtype=torch.float16)\n"
    "stop = threading.Event()\n"
    "threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()\n"
    "b = a @ a\n"
    "torch.cuda.synchronize()\n"
    f"print({READY!r}, flush=True)\n"
    "while not stop.is_set():\n"
    "    for _ in range(8):\n"
    "        b = a @ a\n"
    "    torch.cuda.synchronize()\n"
)


class LoadError(RuntimeError):
    """The steady load could not start (no CUDA in torch, out of memory, a driver error)."""


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


@contextlib.contextmanager
def matmul_load(
    environ: Mapping[str, str], matrix_size: int = MATRIX_SIZE, timeout_s: float = 120.0
) -> Iterator[None]:
    """Inside the block a child multiplies matrices on ``cuda:0`` of ``environ`` (pin the GPU
    with ``CUDA_VISIBLE_DEVICES`` first) without pause."""
    argv = [sys.executable, "-c", MATMUL_SCRIPT, str(matrix_size)]
    try:
        child = start_ready_child(argv, timeout_s, env=environ)
    except ChildNotReady as err:
        why = f"no answer after {timeout_s:g} s" if err.timed_out else str(err)
        raise LoadError(f"the matmul load could not start on the GPU: {why}") from None
    try:
        yield
    finally:
        stop_child(child)


@contextlib.contextmanager
def synthetic_load(source: PowerSource) -> Iterator[None]:
    """The synthetic source at its busy level, while the CPU spins."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin, name="synthetic-load", daemon=True)
    with source.busy():
        spinner.start()
        try:
            yield
        finally:
            stop.set()
            spinner.join()

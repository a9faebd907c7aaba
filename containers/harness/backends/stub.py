"""The CPU stub backend: a deterministic busy loop per generated token, for CI and development.

It exercises everything around a real backend — batching, token counts, latencies, the
container path — at no GPU cost, and the synthetic power source meters it with a known trace.
Batching amortises the per-step cost (each extra sequence adds 10 %), so batch size changes
throughput and energy per token in a known direction.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from typing import TYPE_CHECKING

from camp_contract.models import RunSpec
from camp_contract.params import StubParams
from harness.backends.base import Busy, CacheReset, Completion, params_as
from harness.workload import batches

if TYPE_CHECKING:  # serving's client (urllib.request, ~10 ms) is imported by serving runs only
    from harness.serving.handle import ServerHandle

BATCH_STEP_OVERHEAD = 0.1


class StubBackend:
    def __init__(self) -> None:
        self.latency_scope = "batch"  # each request gets its batch's latency
        self.spec: RunSpec | None = None
        self.params = StubParams()

    def load(self, spec: RunSpec) -> None:
        self.spec = spec
        self.params = params_as(spec, StubParams)

    def _output_tokens(self, prompt: str) -> int:
        assert self.spec is not None
        return output_length(
            prompt, self.spec.workload.max_output_tokens, self.spec.workload.fixed_output_length
        )

    def start_server(self, spec: RunSpec, busy: Busy) -> ServerHandle:
        """The stub's OpenAI-compatible server (``serving/stub_server.py``), a child process as
        ``vllm serve`` is, whose batch drives the synthetic power source (``busy``); a batch of
        up to ``batch_size`` requests, ``work_ms_per_token`` per decode step."""
        from harness.serving.stub_process import start_stub_server

        self.load(spec)
        _inject(self.params.fault)
        step_s = self.params.work_ms_per_token / 1000
        return start_stub_server(
            self.params.batch_size, step_s, spec.workload.max_input_tokens, busy, model=spec.model
        )

    def run(self, prompts: list[str]) -> list[Completion]:
        assert self.spec is not None, "load() first"
        _inject(self.params.fault)
        completions: list[Completion] = []
        for batch in batches(prompts, self.params.batch_size):
            outputs = [self._output_tokens(p) for p in batch]
            step_s = self.params.work_ms_per_token / 1000 * (1 + BATCH_STEP_OVERHEAD * (len(batch) - 1))
            started = time.perf_counter()
            for _ in range(max(outputs)):
                _spin(step_s)
            latency = time.perf_counter() - started
            for prompt, output in zip(batch, outputs, strict=True):
                inputs = min(len(prompt.split()), self.spec.workload.max_input_tokens)
                completions.append(Completion(input_tokens=inputs, output_tokens=output, latency_s=latency))
        return completions

    def warmup_batch_size(self) -> int:
        return self.params.batch_size

    def reset_cache(self) -> CacheReset:
        return "nothing_cached"  # every run() call starts from an empty KV cache

    def release(self) -> None:
        self.spec = None


def output_length(prompt: str, limit: int, fixed: bool) -> int:
    """A request's output tokens: ``limit`` when the length is fixed, else from the prompt's hash."""
    if fixed:
        return limit
    digest = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    return 1 + digest % limit


def _inject(fault: str) -> None:
    """Fail the way a real backend can, on demand (see StubParams.fault)."""
    if fault == "crash":
        raise RuntimeError("injected fault: the backend crashed")
    if fault == "exit0":
        os._exit(0)  # the process ends "successfully" without writing a result
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "oom":
        hoard = []
        while True:  # until the container's memory limit kills the process
            hoard.append(bytearray(64 * 1024 * 1024))
    if fault == "hang":
        while True:
            time.sleep(1)


def _spin(seconds: float) -> None:
    """Keep the CPU busy (not asleep) for ``seconds``, like a kernel would keep a GPU busy."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass

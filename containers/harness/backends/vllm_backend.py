"""vLLM backend: the offline ``vllm.LLM`` engine (written against vLLM 0.8–0.11's documented API).

All prompts go to one ``LLM.generate`` call and vLLM's scheduler batches them (continuous
batching, bounded by ``max_num_seqs`` / ``max_num_batched_tokens``). Greedy decoding; with
``fixed_output_length`` every request yields exactly ``max_output_tokens`` tokens
(``ignore_eos`` + ``min_tokens``). Prompts longer than ``max_input_tokens`` are cut from the left
(``truncate_prompt_tokens``).

Latency: where the engine reports per-request timings (``RequestOutput.metrics`` with
``arrival_time`` and ``finished_time``, the V0 engine) each request gets its own; otherwise (the V1
engine leaves ``metrics`` empty) every request gets the whole call's duration; the result's
``environment.latency_scope`` says which.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import time
from typing import Any

from harness.backends.base import Completion
from harness.contract import RunSpec
from harness.params import VllmParams

DEFAULT_WARMUP_BATCH = 8


def engine_kwargs(spec: RunSpec, params: VllmParams) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``: unset options are left out, so vLLM's defaults hold."""
    chosen = params.model_dump(exclude={"extra"})
    kwargs = {k: v for k, v in chosen.items() if v is not None}
    return {"model": spec.model, "seed": spec.seed, **kwargs, **params.extra}


def sampling_kwargs(spec: RunSpec) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams``."""
    limit = spec.workload.max_output_tokens
    kwargs: dict[str, Any] = {
        "max_tokens": limit,
        "temperature": 0.0,
        "seed": spec.seed,
        "truncate_prompt_tokens": spec.workload.max_input_tokens,
    }
    if spec.workload.fixed_output_length:
        kwargs.update(ignore_eos=True, min_tokens=limit)
    return kwargs


def request_latency(output: Any) -> float | None:
    metrics = getattr(output, "metrics", None)
    arrival = getattr(metrics, "arrival_time", None)
    finished = getattr(metrics, "finished_time", None)
    if arrival is None or finished is None:
        return None
    return float(finished - arrival)


def parse_outputs(outputs: list[Any], call_seconds: float) -> tuple[list[Completion], str]:
    """One Completion per ``RequestOutput`` (in prompt order), and where latencies came from."""
    latencies = [request_latency(o) for o in outputs]
    per_request = all(latency is not None for latency in latencies)
    completions = [
        Completion(
            input_tokens=len(output.prompt_token_ids),
            output_tokens=len(output.outputs[0].token_ids),
            latency_s=latency if per_request and latency is not None else call_seconds,
        )
        for output, latency in zip(outputs, latencies, strict=True)
    ]
    return completions, "per_request" if per_request else "whole_call"


class VllmBackend:
    def __init__(self) -> None:
        self.spec: RunSpec | None = None
        self.params = VllmParams()
        self.llm: Any = None
        self.sampling: Any = None
        self.latency_scope = "whole_call"

    def load(self, spec: RunSpec) -> None:
        # By name: type checkers would otherwise take containers/vllm/ (the image) for the package.
        vllm: Any = importlib.import_module("vllm")

        self.spec = spec
        self.params = VllmParams.model_validate(spec.params)
        self.llm = vllm.LLM(**engine_kwargs(spec, self.params))
        self.sampling = vllm.SamplingParams(**sampling_kwargs(spec))

    def run(self, prompts: list[str]) -> list[Completion]:
        assert self.llm is not None, "load() first"
        started = time.perf_counter()
        outputs = self.llm.generate(prompts, self.sampling, use_tqdm=False)
        completions, self.latency_scope = parse_outputs(list(outputs), time.perf_counter() - started)
        return completions

    def warmup_batch_size(self) -> int:
        return self.params.max_num_seqs or DEFAULT_WARMUP_BATCH

    def release(self) -> None:
        self.llm = None
        gc.collect()
        with contextlib.suppress(Exception):  # best effort: the container ends right after anyway
            from vllm.distributed.parallel_state import (
                destroy_distributed_environment,
                destroy_model_parallel,
            )

            destroy_model_parallel()
            destroy_distributed_environment()
        with contextlib.suppress(Exception):
            import torch

            torch.cuda.empty_cache()

"""TensorRT-LLM backend: the ``tensorrt_llm.LLM`` API (written against TensorRT-LLM 0.19–1.x).

One ``LLM.generate`` call for all prompts; the runtime batches them in flight up to
``max_batch_size`` / ``max_num_tokens``. Greedy decoding (temperature 0); with
``fixed_output_length`` every request yields exactly ``max_output_tokens`` tokens (``ignore_eos``
+ ``min_tokens``). Latency is the whole call's duration for every request (the LLM API's
per-request perf metrics are opt-in and version-dependent).
"""

from __future__ import annotations

import time
from typing import Any

from harness.backends.base import Completion
from harness.contract import RunSpec
from harness.params import TensorRTParams

DEFAULT_WARMUP_BATCH = 8


def llm_kwargs(spec: RunSpec, params: TensorRTParams, llmapi: Any) -> dict[str, Any]:
    """Keyword arguments for ``tensorrt_llm.LLM``; ``llmapi`` is ``tensorrt_llm.llmapi`` (or a fake)."""
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "tensor_parallel_size": params.tensor_parallel_size,
        "dtype": params.dtype,
    }
    if params.max_batch_size is not None:
        kwargs["max_batch_size"] = params.max_batch_size
    if params.max_num_tokens is not None:
        kwargs["max_num_tokens"] = params.max_num_tokens
    if params.kv_cache_free_gpu_memory_fraction is not None:
        kwargs["kv_cache_config"] = llmapi.KvCacheConfig(
            free_gpu_memory_fraction=params.kv_cache_free_gpu_memory_fraction
        )
    if params.quantization is not None:
        kwargs["quant_config"] = llmapi.QuantConfig(quant_algo=getattr(llmapi.QuantAlgo, params.quantization))
    return {**kwargs, **params.extra}


def sampling_kwargs(spec: RunSpec) -> dict[str, Any]:
    limit = spec.workload.max_output_tokens
    kwargs: dict[str, Any] = {
        "max_tokens": limit,
        "temperature": 0.0,
        "truncate_prompt_tokens": spec.workload.max_input_tokens,
    }
    if spec.workload.fixed_output_length:
        kwargs.update(ignore_eos=True, min_tokens=limit)
    return kwargs


def parse_outputs(outputs: list[Any], call_seconds: float) -> list[Completion]:
    return [
        Completion(
            input_tokens=len(o.prompt_token_ids),
            output_tokens=len(o.outputs[0].token_ids),
            latency_s=call_seconds,
        )
        for o in outputs
    ]


class TensorRTBackend:
    def __init__(self) -> None:
        self.spec: RunSpec | None = None
        self.params = TensorRTParams()
        self.llm: Any = None
        self.sampling: Any = None
        self.latency_scope = "whole_call"

    def load(self, spec: RunSpec) -> None:
        import tensorrt_llm
        from tensorrt_llm import llmapi

        self.spec = spec
        self.params = TensorRTParams.model_validate(spec.params)
        self.llm = tensorrt_llm.LLM(**llm_kwargs(spec, self.params, llmapi))
        self.sampling = tensorrt_llm.SamplingParams(**sampling_kwargs(spec))

    def run(self, prompts: list[str]) -> list[Completion]:
        assert self.llm is not None, "load() first"
        started = time.perf_counter()
        outputs = self.llm.generate(prompts, self.sampling)
        return parse_outputs(list(outputs), time.perf_counter() - started)

    def warmup_batch_size(self) -> int:
        return self.params.max_batch_size or DEFAULT_WARMUP_BATCH

    def release(self) -> None:
        if self.llm is not None:
            self.llm.shutdown()
        self.llm = None

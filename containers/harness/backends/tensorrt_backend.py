"""TensorRT-LLM backend: the ``tensorrt_llm.LLM`` API.

Targets TensorRT-LLM 1.0 (the image's pin), where ``tensorrt_llm.LLM`` runs the PyTorch backend
by default, and keeps to what 0.19 shares with it: ``LLM(model, tensor_parallel_size, dtype,
max_batch_size, max_num_tokens, kv_cache_config, quant_config)``, ``SamplingParams``,
``generate``, ``shutdown``.

One ``LLM.generate`` call for all prompts; the runtime batches them in flight up to
``max_batch_size`` / ``max_num_tokens``. Greedy decoding: ``top_k=1`` (the LLM API's own test for
greedy; its ``temperature`` must be > 0, so none is sent). With ``fixed_output_length`` every
request yields exactly ``max_output_tokens`` tokens (``ignore_eos`` + ``min_tokens``). Prompts go
in as token ids from the LLM's tokenizer, cut to ``max_input_tokens`` as the PyTorch backend cuts
them (``token_prompts``; the LLM API's ``truncate_prompt_tokens`` would keep the *last* tokens).
Latency is the whole call's duration for every request (the LLM API's per-request perf metrics
are opt-in and version-dependent).

``engine`` picks the runtime: ``pytorch`` (``tensorrt_llm.LLM``, the default from 1.0) or
``tensorrt`` (``tensorrt_llm._tensorrt_engine.LLM``, which builds a TensorRT engine at load, so
its load time and energy include the build). ``quantization`` builds a ``QuantConfig``, applied
while the TensorRT engine is built; the params reject it on ``pytorch``, which takes the
quantization of a pre-quantized checkpoint instead and would otherwise run unquantised.

Serving (``workload.mode: server``): ``trtllm-serve`` (``serve_command``), a child process on
127.0.0.1 (``serving/managed_server.py``). Its CLI takes the batch limits, the tensor-parallel
size and the runtime (``--backend``) as flags; every other ``LLM`` argument (dtype, the
``KvCacheConfig``, the quantization, ``extra``) goes in the ``--extra_llm_api_options`` file,
written as JSON (a YAML file's subset) beside the run.

KV block reuse (``KvCacheConfig.enable_block_reuse``, on by default in TensorRT-LLM) is always
set, off unless the params turn it on. TensorRT-LLM 1.0's ``LLM`` has no call to empty the cache
between warmup and the window (``environment.cache_reset: not_offered``); a later release's
``reset_prefix_cache()`` is used where it exists. Without it, reuse on is still safe for the
window's first requests: no warmup prompt is a measured one, nor starts like one but by chance.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from camp_contract.models import RunSpec
from camp_contract.params import TensorRTParams
from harness.backends.base import Busy, CacheReset, Completion, params_as, reset_prefix_cache
from harness.backends.token_prompts import token_prompts
from harness.serving.loopback import LOOPBACK_HOST, free_port
from harness.serving.managed_server import ManagedServer

DEFAULT_WARMUP_BATCH = 8


def llm_kwargs(spec: RunSpec, params: TensorRTParams, llmapi: Any) -> dict[str, Any]:
    """Keyword arguments for ``tensorrt_llm.LLM``; ``llmapi`` is ``tensorrt_llm.llmapi`` (or a fake).
    A ``KvCacheConfig`` is always built, so block reuse is what the params say, never the
    engine's default; ``extra.kv_cache_config`` adds its fields to it."""
    kwargs: dict[str, Any] = {
        "model": spec.model,
        "tensor_parallel_size": params.tensor_parallel_size,
        "dtype": params.dtype,
    }
    if params.max_batch_size is not None:
        kwargs["max_batch_size"] = params.max_batch_size
    if params.max_num_tokens is not None:
        kwargs["max_num_tokens"] = params.max_num_tokens
    kv_cache = {**params.extra.get("kv_cache_config", {}), "enable_block_reuse": params.enable_block_reuse}
    if params.kv_cache_free_gpu_memory_fraction is not None:
        kv_cache["free_gpu_memory_fraction"] = params.kv_cache_free_gpu_memory_fraction
    kwargs["kv_cache_config"] = llmapi.KvCacheConfig(**kv_cache)
    if params.quantization is not None:
        kwargs["quant_config"] = llmapi.QuantConfig(quant_algo=getattr(llmapi.QuantAlgo, params.quantization))
    extra = {k: v for k, v in params.extra.items() if k != "kv_cache_config"}
    return {**kwargs, **extra}


def llm_api_options(params: TensorRTParams) -> dict[str, Any]:
    """What ``trtllm-serve`` takes in its ``--extra_llm_api_options`` file: the ``LLM`` arguments
    its flags do not carry, as ``llm_kwargs`` sets them for the offline ``LLM``."""
    kv_cache = {**params.extra.get("kv_cache_config", {}), "enable_block_reuse": params.enable_block_reuse}
    if params.kv_cache_free_gpu_memory_fraction is not None:
        kv_cache["free_gpu_memory_fraction"] = params.kv_cache_free_gpu_memory_fraction
    options: dict[str, Any] = {"dtype": params.dtype, "kv_cache_config": kv_cache}
    if params.quantization is not None:
        options["quant_config"] = {"quant_algo": params.quantization}
    extra = {k: v for k, v in params.extra.items() if k != "kv_cache_config"}
    return {**options, **extra}


def serve_command(spec: RunSpec, params: TensorRTParams, port: int, options_file: Path) -> list[str]:
    """``trtllm-serve`` for ``spec`` (its ``model`` the local path) on 127.0.0.1:``port``."""
    command = ["trtllm-serve", spec.model, "--host", LOOPBACK_HOST, "--port", str(port)]
    command += ["--backend", params.engine, "--tp_size", str(params.tensor_parallel_size)]
    if params.max_batch_size is not None:
        command += ["--max_batch_size", str(params.max_batch_size)]
    if params.max_num_tokens is not None:
        command += ["--max_num_tokens", str(params.max_num_tokens)]
    return [*command, "--extra_llm_api_options", str(options_file)]


def sampling_kwargs(spec: RunSpec) -> dict[str, Any]:
    limit = spec.workload.max_output_tokens
    kwargs: dict[str, Any] = {
        "max_tokens": limit,
        "top_k": 1,
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
        self.params = params_as(spec, TensorRTParams)
        if self.params.engine == "tensorrt":
            from tensorrt_llm._tensorrt_engine import LLM
        else:
            LLM = tensorrt_llm.LLM
        self.llm = LLM(**llm_kwargs(spec, self.params, llmapi))
        self.sampling = tensorrt_llm.SamplingParams(**sampling_kwargs(spec))

    def start_server(self, spec: RunSpec, busy: Busy) -> ManagedServer:
        self.spec = spec
        self.params = params_as(spec, TensorRTParams)
        options = Path(tempfile.mkdtemp(prefix="camp-trtllm-")) / "extra_llm_api_options.yaml"
        options.write_text(json.dumps(llm_api_options(self.params)))
        port = free_port()
        return ManagedServer(serve_command(spec, self.params, port, options), port, model=spec.model)

    def run(self, prompts: list[str]) -> list[Completion]:
        assert self.llm is not None and self.spec is not None, "load() first"
        limit = self.spec.workload.max_input_tokens
        requests = token_prompts(self.llm.tokenizer, prompts, limit)
        started = time.perf_counter()
        outputs = self.llm.generate(requests, self.sampling, use_tqdm=False)  # no progress bar in the window
        return parse_outputs(list(outputs), time.perf_counter() - started)

    def warmup_batch_size(self) -> int:
        return self.params.max_batch_size or DEFAULT_WARMUP_BATCH

    def reset_cache(self) -> CacheReset:
        return reset_prefix_cache(self.llm)

    def release(self) -> None:
        if self.llm is not None:
            self.llm.shutdown()
        self.llm = None

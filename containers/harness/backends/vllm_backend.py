"""vLLM backend: the offline ``vllm.LLM`` engine.

Targets vLLM 0.11 (the image's pin; the first release with only the V1 engine) and stays within
the API that 0.8 through 0.19 share: ``LLM(**engine args)``, ``LLM.get_tokenizer()``,
``LLM.generate(prompts, SamplingParams)`` with token-id prompts, ``RequestOutput``.

All prompts go to one ``LLM.generate`` call and vLLM's scheduler batches them (continuous
batching, bounded by ``max_num_seqs`` / ``max_num_batched_tokens``). Greedy decoding; with
``fixed_output_length`` every request yields exactly ``max_output_tokens`` tokens
(``ignore_eos`` + ``min_tokens``).

Prompts go in as token ids from the engine's own tokenizer, cut to ``max_input_tokens`` as the
PyTorch backend cuts them (``token_prompts``): the same input on every backend, and no reliance on
``SamplingParams.truncate_prompt_tokens``, which vLLM 0.17 removed.

Latency: the engine's per-request timings where it records them. ``LLM`` switches its stats off
by default, so the engine is built with ``disable_log_stats=False``; the V1 engine then reports
``RequestOutput.metrics.queued_ts`` and ``last_token_ts`` (one monotonic clock in the engine core:
queueing + prefill + decode), the old V0 engine ``arrival_time`` and ``finished_time``. Where
neither is there every request gets the whole call's duration. The result's
``environment.latency_scope`` says which.

Serving (``workload.mode: server``): ``vllm serve`` with the same parameters as its flags
(``serve_command``), a child process on 127.0.0.1 (``serving/managed_server.py``).

Prefix caching: ``enable_prefix_caching`` is always sent, off unless the params turn it on (V1's
default is on). Between warmup and the window ``LLM.reset_prefix_cache()`` empties the cache
(vLLM 0.7 and later), so even with caching on no measured request starts from warmup's blocks.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import time
from typing import Any

from camp_contract.models import RunSpec
from camp_contract.params import VllmParams
from harness.backends.base import Busy, CacheReset, Completion, params_as, reset_prefix_cache
from harness.backends.token_prompts import token_prompts
from harness.serving.loopback import LOOPBACK_HOST, free_port
from harness.serving.managed_server import ManagedServer

DEFAULT_WARMUP_BATCH = 8


def engine_kwargs(spec: RunSpec, params: VllmParams) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``: unset options are left out, so vLLM's defaults hold
    (``enable_prefix_caching`` is never unset: camp's default, off, is sent). Stats stay on
    (``LLM`` turns them off) so requests carry their timings; ``extra`` wins."""
    chosen = params.model_dump(exclude={"extra"})
    kwargs = {k: v for k, v in chosen.items() if v is not None}
    return {
        "model": spec.model,
        "seed": spec.seed,
        "disable_log_stats": False,
        **kwargs,
        **params.extra,
    }


def cli_flag(name: str, value: Any) -> list[str]:
    """One engine argument as ``vllm serve`` takes it: ``--name-with-dashes value``; a boolean as
    ``--flag`` / ``--no-flag`` (vLLM's boolean engine arguments are ``BooleanOptionalAction``);
    a mapping or list as JSON."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag] if value else ["--no-" + name.replace("_", "-")]
    if isinstance(value, dict | list):
        return [flag, json.dumps(value)]
    return [flag, str(value)]


def serve_command(spec: RunSpec, params: VllmParams, port: int) -> list[str]:
    """``vllm serve`` for ``spec`` (its ``model`` the local path) on 127.0.0.1:``port``: the
    engine arguments ``engine_kwargs`` gives the offline engine, as flags, served under that
    name (what requests carry); no access log (one line per request would fill the container log)."""
    kwargs = engine_kwargs(spec, params)
    model = kwargs.pop("model")
    kwargs.pop("disable_log_stats")  # the server logs its stats by default
    command = ["vllm", "serve", model, "--host", LOOPBACK_HOST, "--port", str(port)]
    command += ["--served-model-name", spec.model, "--disable-uvicorn-access-log"]
    for name, value in kwargs.items():
        command += cli_flag(name, value)
    return command


def sampling_kwargs(spec: RunSpec) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams``."""
    limit = spec.workload.max_output_tokens
    kwargs: dict[str, Any] = {
        "max_tokens": limit,
        "temperature": 0.0,
        "seed": spec.seed,
    }
    if spec.workload.fixed_output_length:
        kwargs.update(ignore_eos=True, min_tokens=limit)
    return kwargs


def request_latency(output: Any) -> float | None:
    """Seconds the engine spent on one request, or None where it recorded no timings. Each
    difference is taken on one clock only (V1 mixes a wall-clock arrival with monotonic engine
    timestamps)."""
    metrics = getattr(output, "metrics", None)
    queued = getattr(metrics, "queued_ts", None)
    last_token = getattr(metrics, "last_token_ts", None)
    if queued and last_token and last_token >= queued:  # V1: zero until recorded
        return float(last_token - queued)
    arrival = getattr(metrics, "arrival_time", None)
    finished = getattr(metrics, "finished_time", None)
    if arrival is None or finished is None:  # V0 sets finished_time when the request ends
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
        self.params = params_as(spec, VllmParams)
        self.llm = vllm.LLM(**engine_kwargs(spec, self.params))
        self.sampling = vllm.SamplingParams(**sampling_kwargs(spec))

    def start_server(self, spec: RunSpec, busy: Busy) -> ManagedServer:
        self.spec = spec
        self.params = params_as(spec, VllmParams)
        port = free_port()
        return ManagedServer(serve_command(spec, self.params, port), port, model=spec.model)

    def run(self, prompts: list[str]) -> list[Completion]:
        assert self.llm is not None and self.spec is not None, "load() first"
        limit = self.spec.workload.max_input_tokens
        requests = token_prompts(self.llm.get_tokenizer(), prompts, limit)
        started = time.perf_counter()
        outputs = self.llm.generate(requests, self.sampling, use_tqdm=False)
        completions, self.latency_scope = parse_outputs(list(outputs), time.perf_counter() - started)
        return completions

    def warmup_batch_size(self) -> int:
        return self.params.max_num_seqs or DEFAULT_WARMUP_BATCH

    def reset_cache(self) -> CacheReset:
        return reset_prefix_cache(self.llm)

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

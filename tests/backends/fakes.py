"""Fake ``vllm`` and ``tensorrt_llm`` modules shaped like the real ones, installed through
sys.modules.

What they copy from the real engines, because the backends depend on it:
- ``SamplingParams`` takes keyword arguments only, and vLLM's (a msgspec Struct) refuses a name it
  does not have: ``truncate_prompt_tokens`` is gone from vLLM 0.17's field list, so it is not here.
- ``LLM.generate`` takes text or ``{"prompt_token_ids": [...]}`` prompts and returns one
  RequestOutput-like object per prompt, in order, with ``prompt_token_ids`` and
  ``outputs[0].token_ids``.
- vLLM's tokenizer is ``LLM.get_tokenizer()``, TensorRT-LLM's the ``LLM.tokenizer`` property; both
  are called like a Hugging Face tokenizer (``truncation``/``max_length``, special tokens added).
- vLLM attaches per-request ``metrics`` only when stats are on (``disable_log_stats=False``; the
  offline ``LLM`` turns them off): V1's RequestStateStats (wall-clock ``arrival_time``, monotonic
  ``queued_ts`` .. ``last_token_ts``) or V0's (``arrival_time``, ``finished_time``).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Literal

BOS = 1  # the fake tokenizer's special token, added in front like a Llama tokenizer's BOS

# vLLM 0.17+ SamplingParams fields the backends could plausibly use (no truncate_prompt_tokens).
VLLM_SAMPLING_FIELDS = frozenset(
    {"n", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos"}
    | {"max_tokens", "min_tokens", "logprobs", "detokenize", "skip_special_tokens", "output_kind"}
)
# TensorRT-LLM SamplingParams fields (0.19 and 1.x share these).
TRT_SAMPLING_FIELDS = frozenset(
    {"end_id", "pad_id", "max_tokens", "stop", "stop_token_ids", "n", "top_k", "top_p", "seed"}
    | {"temperature", "min_tokens", "ignore_eos", "detokenize", "truncate_prompt_tokens"}
    | {"add_special_tokens", "return_perf_metrics"}
)

Metrics = Literal["v1", "v0", "none"]


class FakeTokenizer:
    """Word-level stand-in for a Hugging Face tokenizer: one id per word, BOS first."""

    def __call__(
        self, texts: list[str], truncation: bool = False, max_length: int | None = None
    ) -> dict[str, list[list[int]]]:
        rows = [[BOS, *range(10, 10 + len(text.split()))] for text in texts]
        if truncation and max_length is not None:
            rows = [row[:max_length] for row in rows]  # truncation_side="right", the default
        return {"input_ids": rows}


@dataclass
class FakeSampling:
    kwargs: dict[str, Any]


def sampling_class(fields: frozenset[str]) -> Any:
    def sampling(*args: Any, **kwargs: Any) -> FakeSampling:
        unknown = set(kwargs) - fields
        if args or unknown:
            raise TypeError(f"Unexpected keyword argument {sorted(unknown)!r}")
        return FakeSampling(kwargs)

    return sampling


@dataclass
class FakeEngine:
    """Records what it was built with and answers generate() like the real engines."""

    kwargs: dict[str, Any]
    metrics: Metrics = "none"
    calls: list[tuple[list[Any], Any]] = field(default_factory=list)
    shut_down: bool = False

    @property
    def tokenizer(self) -> FakeTokenizer:  # TensorRT-LLM's spelling
        return FakeTokenizer()

    def get_tokenizer(self) -> FakeTokenizer:  # vLLM's spelling
        return FakeTokenizer()

    def _metrics(self, i: int) -> Any:
        if self.kwargs.get("disable_log_stats", True) or self.metrics == "none":
            return None
        if self.metrics == "v1":  # engine-core monotonic timestamps, wall-clock arrival
            return types.SimpleNamespace(
                arrival_time=1.7e9,
                queued_ts=50.0,
                scheduled_ts=50.1,
                first_token_ts=50.2,
                last_token_ts=50.5 + i,
            )
        return types.SimpleNamespace(arrival_time=100.0, finished_time=100.5 + i)

    def generate(self, prompts: list[Any], sampling: Any, use_tqdm: bool = True) -> list[Any]:
        self.calls.append((prompts, sampling))
        limit = sampling.kwargs["max_tokens"]
        keep = sampling.kwargs.get("truncate_prompt_tokens")
        outputs = []
        for i, prompt in enumerate(prompts):
            if isinstance(prompt, dict):
                prompt_ids = list(prompt["prompt_token_ids"])
            else:
                prompt_ids = FakeTokenizer()([prompt])["input_ids"][0]
                prompt_ids = prompt_ids[-keep:] if keep else prompt_ids
            produced = limit if sampling.kwargs.get("ignore_eos") else max(1, limit // 2)
            outputs.append(
                types.SimpleNamespace(
                    prompt=None if isinstance(prompt, dict) else prompt,
                    prompt_token_ids=prompt_ids,
                    metrics=self._metrics(i),
                    outputs=[types.SimpleNamespace(token_ids=list(range(produced)), text="x" * produced)],
                )
            )
        return outputs

    def shutdown(self) -> None:
        self.shut_down = True


def _engine_module(name: str, metrics: Metrics, sampling_fields: frozenset[str]) -> types.ModuleType:
    """A module whose ``LLM(**kwargs)`` builds (and remembers) a FakeEngine."""
    module = types.ModuleType(name)
    module.engines = []  # type: ignore[attr-defined]

    def llm(*args: Any, **kwargs: Any) -> FakeEngine:
        if args:
            raise TypeError("the fake LLM takes keyword arguments only")
        engine = FakeEngine(kwargs, metrics=metrics)
        module.engines.append(engine)
        return engine

    module.LLM = llm  # type: ignore[attr-defined]
    module.SamplingParams = sampling_class(sampling_fields)  # type: ignore[attr-defined]
    return module


def fake_vllm(metrics: Metrics = "v1") -> types.ModuleType:
    return _engine_module("vllm", metrics, VLLM_SAMPLING_FIELDS)


def fake_tensorrt_llm() -> tuple[types.ModuleType, types.ModuleType]:
    module = _engine_module("tensorrt_llm", "none", TRT_SAMPLING_FIELDS)
    llmapi = types.ModuleType("tensorrt_llm.llmapi")
    module.llmapi = llmapi  # type: ignore[attr-defined]
    llmapi.KvCacheConfig = lambda **kw: ("KvCacheConfig", kw)  # type: ignore[attr-defined]
    llmapi.QuantConfig = lambda **kw: ("QuantConfig", kw)  # type: ignore[attr-defined]
    llmapi.QuantAlgo = types.SimpleNamespace(  # type: ignore[attr-defined]
        FP8="QuantAlgo.FP8", W4A16_AWQ="QuantAlgo.W4A16_AWQ"
    )
    # The TensorRT-engine runtime: its own LLM class, its engines kept apart from the default's.
    trt_engine = _engine_module("tensorrt_llm._tensorrt_engine", "none", TRT_SAMPLING_FIELDS)
    module._tensorrt_engine = trt_engine  # type: ignore[attr-defined]
    return module, llmapi

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
- Both engines keep a prefix cache across requests and calls, ON unless told otherwise: vLLM V1's
  ``enable_prefix_caching`` engine argument, TensorRT-LLM's ``KvCacheConfig(enable_block_reuse)``
  (a strict model: unknown fields are refused). Only full blocks are reused (vLLM 16 tokens,
  TensorRT-LLM ``tokens_per_block``, 32), never a prompt's last token, and a request sees the
  blocks of every request before it, in the same call too. vLLM reports the hit as
  ``RequestOutput.num_cached_tokens``; each engine also keeps them in ``cached_tokens``.
- vLLM's ``LLM.reset_prefix_cache()`` empties the cache and answers True (False when it could
  not); TensorRT-LLM 1.0's ``LLM`` has no such call (``fake_tensorrt_llm(with_reset=True)`` plays a
  later release that has one).
"""

from __future__ import annotations

import types
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

BOS = 1  # the fake tokenizer's special token, added in front like a Llama tokenizer's BOS
VLLM_BLOCK_SIZE = 16
TRT_TOKENS_PER_BLOCK = 32

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


def word_id(word: str) -> int:
    """The fake tokenizer's id for ``word``: the same word always gets the same id."""
    return 10 + zlib.crc32(word.encode()) % 50_000


def token_ids(text: str) -> list[int]:
    """What the fake tokenizer makes of ``text``, untruncated."""
    return [BOS, *(word_id(w) for w in text.split())]


class FakeTokenizer:
    """Word-level stand-in for a Hugging Face tokenizer: one id per word, BOS first."""

    def __call__(
        self, texts: list[str], truncation: bool = False, max_length: int | None = None
    ) -> dict[str, list[list[int]]]:
        rows = [token_ids(text) for text in texts]
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


@dataclass(frozen=True, kw_only=True)
class FakeKvCacheConfig:
    """TensorRT-LLM's ``KvCacheConfig``: keyword fields only, unknown ones refused, block reuse
    on by default."""

    enable_block_reuse: bool = True
    free_gpu_memory_fraction: float | None = 0.9
    tokens_per_block: int = TRT_TOKENS_PER_BLOCK
    max_tokens: int | None = None
    host_cache_size: int | None = None


@dataclass
class FakeEngine:
    """Records what it was built with and answers generate() like the real engines."""

    kwargs: dict[str, Any]
    metrics: Metrics = "none"
    calls: list[tuple[list[Any], Any]] = field(default_factory=list)
    shut_down: bool = False
    cached_tokens: list[list[int]] = field(default_factory=list)  # per call, per prompt
    cache: set[tuple[int, ...]] = field(default_factory=set)  # the full-block prefixes it holds
    default_block_size: int = VLLM_BLOCK_SIZE  # where no KvCacheConfig names one

    @property
    def caching(self) -> bool:
        kv_cache = self.kwargs.get("kv_cache_config")
        if kv_cache is not None:  # TensorRT-LLM
            return bool(kv_cache.enable_block_reuse)
        # vLLM V1's default; TensorRT-LLM without a KvCacheConfig reuses blocks as well
        return bool(self.kwargs.get("enable_prefix_caching", True))

    @property
    def block_size(self) -> int:
        kv_cache = self.kwargs.get("kv_cache_config")
        return kv_cache.tokens_per_block if kv_cache is not None else self.default_block_size

    def _serve_from_cache(self, ids: list[int]) -> int:
        """Tokens of ``ids`` found in the cache (whole blocks, never the last token); then the
        prompt's own full blocks are cached."""
        if not self.caching:
            return 0
        size = self.block_size
        hit = 0
        for end in range(size, len(ids), size):  # len(ids) itself is excluded: the last token
            if tuple(ids[:end]) not in self.cache:
                break
            hit = end
        self.cache.update(tuple(ids[:end]) for end in range(size, len(ids) + 1, size))
        return hit

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
        hits = []
        for i, prompt in enumerate(prompts):
            if isinstance(prompt, dict):
                prompt_ids = list(prompt["prompt_token_ids"])
            else:
                prompt_ids = FakeTokenizer()([prompt])["input_ids"][0]
                prompt_ids = prompt_ids[-keep:] if keep else prompt_ids
            hits.append(self._serve_from_cache(prompt_ids))
            produced = limit if sampling.kwargs.get("ignore_eos") else max(1, limit // 2)
            outputs.append(
                types.SimpleNamespace(
                    prompt=None if isinstance(prompt, dict) else prompt,
                    prompt_token_ids=prompt_ids,
                    num_cached_tokens=hits[-1],
                    metrics=self._metrics(i),
                    outputs=[types.SimpleNamespace(token_ids=list(range(produced)), text="x" * produced)],
                )
            )
        self.cached_tokens.append(hits)
        return outputs

    def shutdown(self) -> None:
        self.shut_down = True


@dataclass
class ResettableEngine(FakeEngine):
    """An engine with ``reset_prefix_cache()`` (vLLM from 0.7), which can be made to refuse."""

    refuse_reset: bool = False
    resets: list[int] = field(default_factory=list)  # how many generate() calls came before each

    def reset_prefix_cache(self) -> bool:
        if self.refuse_reset:
            return False
        self.resets.append(len(self.calls))
        self.cache.clear()
        return True


def _engine_module(
    name: str,
    metrics: Metrics,
    sampling_fields: frozenset[str],
    engine_class: type[FakeEngine] = FakeEngine,
    block_size: int = VLLM_BLOCK_SIZE,
) -> types.ModuleType:
    """A module whose ``LLM(**kwargs)`` builds (and remembers) a FakeEngine."""
    module = types.ModuleType(name)
    module.engines = []  # type: ignore[attr-defined]

    def llm(*args: Any, **kwargs: Any) -> FakeEngine:
        if args:
            raise TypeError("the fake LLM takes keyword arguments only")
        engine = engine_class(kwargs, metrics=metrics, default_block_size=block_size)
        module.engines.append(engine)
        return engine

    module.LLM = llm  # type: ignore[attr-defined]
    module.SamplingParams = sampling_class(sampling_fields)  # type: ignore[attr-defined]
    return module


def fake_vllm(metrics: Metrics = "v1") -> types.ModuleType:
    return _engine_module("vllm", metrics, VLLM_SAMPLING_FIELDS, ResettableEngine)


def fake_tensorrt_llm(with_reset: bool = False) -> tuple[types.ModuleType, types.ModuleType]:
    engine_class = ResettableEngine if with_reset else FakeEngine
    module = _engine_module("tensorrt_llm", "none", TRT_SAMPLING_FIELDS, engine_class, TRT_TOKENS_PER_BLOCK)
    llmapi = types.ModuleType("tensorrt_llm.llmapi")
    module.llmapi = llmapi  # type: ignore[attr-defined]
    llmapi.KvCacheConfig = FakeKvCacheConfig  # type: ignore[attr-defined]
    llmapi.QuantConfig = lambda **kw: ("QuantConfig", kw)  # type: ignore[attr-defined]
    llmapi.QuantAlgo = types.SimpleNamespace(  # type: ignore[attr-defined]
        FP8="QuantAlgo.FP8", W4A16_AWQ="QuantAlgo.W4A16_AWQ"
    )
    # The TensorRT-engine runtime: its own LLM class, its engines kept apart from the default's.
    trt_engine = _engine_module(
        "tensorrt_llm._tensorrt_engine", "none", TRT_SAMPLING_FIELDS, engine_class, TRT_TOKENS_PER_BLOCK
    )
    module._tensorrt_engine = trt_engine  # type: ignore[attr-defined]
    return module, llmapi

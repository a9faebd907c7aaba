"""Per-backend parameter schemas: what a grid point may set for each backend.

Each model is named by its backend's entry in ``camp_contract.backends``. The host validates every
expanded grid point against it, so a point a backend cannot take is rejected (with the reason)
before anything runs; the harness validates the spec on load, whose ``params`` are typed by its
backend. ``extra`` is passed through untouched to the backend's own constructor for anything camp
does not model. Keep cross-field rules here as ``model_validator``s whose message is the reason a
researcher reads in ``camp plan``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

Dtype = Literal["auto", "float32", "float16", "bfloat16"]


MAX_BATCH = 1 << 16  # requests in one batch
MAX_TOKENS = 1 << 24  # tokens in one step or context, far beyond any model's
MAX_GPUS = 1024  # devices one run spans


def not_one_of(value: str, choices: tuple[str, ...], message: str, advice: str = "") -> PydanticCustomError:
    """A value outside a closed list, raised as a Literal's error would be (``literal_error`` with
    its ``expected`` choices), so the campaign's loader lists them with a did-you-mean; ``advice``
    says what else to do."""
    expected = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
    listed = f"{message}; choose one of {', '.join(choices)}" + (f", {advice}" if advice else "")
    context = {"expected": expected, "advice": advice} if advice else {"expected": expected}
    return PydanticCustomError("literal_error", listed, context)


class BackendParams(BaseModel):
    # Every number finite and bounded (``le=``): a value no engine could take is refused on load.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Passed untouched to the backend's own constructor or engine arguments, for what "
        "camp does not model.",
    )

    def gpus_needed(self) -> int:
        """How many GPUs one run of this point occupies (tensor parallelism)."""
        return 1


class StubParams(BackendParams):
    """The CPU stub: a deterministic busy-loop per token, metered by the synthetic power source."""

    batch_size: int = Field(default=1, ge=1, le=MAX_BATCH, description="Requests generated together.")
    work_ms_per_token: float = Field(
        default=0.2,
        ge=0,
        le=60_000,
        description="CPU milliseconds per generated token, so throughput depends on batch size in a "
        "known way.",
    )
    fault: Literal["none", "crash", "exit0", "sigkill", "oom", "hang"] = Field(
        default="none",
        description="Fault injection, to prove camp's failure handling: raise an error, exit 0 without a "
        "result, be SIGKILLed, run out of memory, or hang until killed.",
    )

    def gpus_needed(self) -> int:
        return 0


class PyTorchParams(BackendParams):
    """transformers ``generate()``; ``extra`` goes to ``from_pretrained``."""

    batch_size: int = Field(default=1, ge=1, le=MAX_BATCH, description="Prompts per generate() call.")
    dtype: Dtype = Field(default="auto", description="The weights' dtype (auto: the checkpoint's).")
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] | None = Field(
        default=None,
        description="transformers' attention kernel (unset: its default); flash_attention_2 needs "
        "float16 or bfloat16.",
    )
    device: Literal["auto", "cuda", "cpu"] = Field(
        default="auto", description="Where the model runs (auto: a GPU if any)."
    )

    @model_validator(mode="after")
    def _flash_attention_needs_half_precision(self) -> PyTorchParams:
        if self.attn_implementation == "flash_attention_2" and self.dtype in ("float32", "auto"):
            raise ValueError("flash_attention_2 needs dtype float16 or bfloat16")
        return self


# Choices from vLLM's CacheDType and QuantizationMethods literals (vllm/config/cache.py,
# vllm/model_executor/layers/quantization/__init__.py) that recent releases share; an older image
# may lack a newer one and say so on load. A method outside this list can still be passed as
# extra: {quantization: ...}, which goes to the engine unchecked.
VLLM_KV_CACHE_DTYPES = ("auto", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla")
VLLM_QUANTIZATIONS = (
    "awq",
    "awq_marlin",
    "gptq",
    "gptq_marlin",
    "fp8",
    "bitsandbytes",
    "compressed-tensors",
    "gguf",
    "experts_int8",
    "modelopt",
    "modelopt_fp4",
    "quark",
    "moe_wna16",
    "torchao",
    "inc",
    "mxfp4",
)
TRT_QUANT_ALGOS = (
    "FP8",
    "FP8_BLOCK_SCALES",
    "NVFP4",
    "W4A16",
    "W4A16_AWQ",
    "W4A8_AWQ",
    "W8A16",
    "W8A8_SQ_PER_CHANNEL",
)


class VllmParams(BackendParams):
    """vLLM offline ``LLM``; unset engine arguments keep vLLM's defaults; ``extra`` goes to the
    engine arguments as well.

    ``enable_prefix_caching`` is off unless a campaign turns it on (vLLM's V1 engine has it on by
    default): with it on, a request whose prompt starts like an earlier one skips part of its
    prefill, so the figures depend on how the workload repeats itself. It is always sent, so the
    resolved spec says what the engine did."""

    dtype: Dtype = Field(
        default="auto", description="The weights' and activations' dtype (auto: the checkpoint's)."
    )
    max_num_seqs: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS, description="Sequences scheduled at once (unset: vLLM's default)."
    )
    max_num_batched_tokens: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOKENS,
        description="Tokens in one scheduler step (unset: vLLM's default); at least max_num_seqs.",
    )
    max_model_len: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS, description="Context length (unset: the model's)."
    )
    gpu_memory_utilization: float = Field(
        default=0.9, gt=0, le=1, description="Share of GPU memory vLLM may take for weights and KV cache."
    )
    tensor_parallel_size: int = Field(
        default=1, ge=1, le=MAX_GPUS, description="GPUs one run spans (the campaign's gpus must list enough)."
    )
    enable_prefix_caching: bool = Field(
        default=False, description="Reuse KV cache across prompts that share a prefix (see above)."
    )
    enable_chunked_prefill: bool | None = Field(
        default=None,
        description="Split long prefills over steps (unset: vLLM's default); off, a whole prompt must fit "
        "in max_num_batched_tokens.",
    )
    kv_cache_dtype: str = Field(
        default="auto", description=f"The KV cache's dtype: one of {', '.join(VLLM_KV_CACHE_DTYPES)}."
    )
    quantization: str | None = Field(
        default=None,
        description="A quantization method (unset: none, or the checkpoint's): one of "
        f"{', '.join(VLLM_QUANTIZATIONS)}; a newer one can go in extra.",
    )
    enforce_eager: bool = Field(default=False, description="Run without CUDA graphs.")

    @field_validator("kv_cache_dtype")
    @classmethod
    def _known_kv_cache_dtype(cls, value: str) -> str:
        if value not in VLLM_KV_CACHE_DTYPES:
            raise not_one_of(value, VLLM_KV_CACHE_DTYPES, f"kv_cache_dtype {value!r} is not one vLLM accepts")
        return value

    @field_validator("quantization")
    @classmethod
    def _known_quantization(cls, value: str | None) -> str | None:
        if value is not None and value not in VLLM_QUANTIZATIONS:
            raise not_one_of(
                value,
                VLLM_QUANTIZATIONS,
                f"quantization {value!r} is not a method vLLM documents",
                advice="or pass a newer one as extra: {quantization: ...}",
            )
        return value

    @field_validator("extra")
    @classmethod
    def _caching_is_a_parameter(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "enable_prefix_caching" in value:
            raise ValueError(
                "enable_prefix_caching belongs in params, not extra (the resolved spec records "
                "it): set params.enable_prefix_caching"
            )
        return value

    @model_validator(mode="after")
    def _step_fits_the_sequences(self) -> VllmParams:
        tokens, seqs = self.max_num_batched_tokens, self.max_num_seqs
        if tokens is not None and seqs is not None and tokens < seqs:
            raise ValueError(
                f"max_num_batched_tokens ({tokens}) < max_num_seqs ({seqs}): a step could not "
                "give every scheduled sequence a token"
            )
        if (
            self.enable_chunked_prefill is False
            and tokens is not None
            and self.max_model_len is not None
            and tokens < self.max_model_len
        ):
            raise ValueError(
                f"without chunked prefill a whole prompt must fit in one step: max_num_batched_tokens "
                f"({tokens}) < max_model_len ({self.max_model_len})"
            )
        return self

    def gpus_needed(self) -> int:
        return self.tensor_parallel_size


# The KvCacheConfig fields camp sets from TensorRTParams (field: parameter).
TRT_KV_CACHE_FIELDS = {
    "enable_block_reuse": "enable_block_reuse",
    "free_gpu_memory_fraction": "kv_cache_free_gpu_memory_fraction",
}


class TensorRTParams(BackendParams):
    """TensorRT-LLM ``LLM`` API; unset arguments keep its defaults; ``extra`` goes to ``LLM()``.

    ``engine``: ``pytorch`` is TensorRT-LLM's default runtime from 1.0 (``tensorrt_llm.LLM``);
    ``tensorrt`` builds a TensorRT engine first (``tensorrt_llm._tensorrt_engine.LLM``), the only
    one that applies ``quantization`` to a plain checkpoint. On ``pytorch`` the quantization is
    the checkpoint's own (name a pre-quantized one, e.g. a ModelOpt FP8 export, under ``models``).

    ``enable_block_reuse`` (``KvCacheConfig.enable_block_reuse``, on by default in TensorRT-LLM) is
    off unless a campaign turns it on: with it on, a request whose prompt starts like an earlier
    one reuses its KV blocks and skips part of its prefill. Other ``KvCacheConfig`` fields can be
    given as ``extra: {kv_cache_config: {...}}``; camp adds its own two to them.
    """

    engine: Literal["pytorch", "tensorrt"] = Field(
        default="pytorch",
        description="TensorRT-LLM's runtime: pytorch, or tensorrt (builds an engine; see above).",
    )
    dtype: Dtype = Field(
        default="auto", description="The weights' and activations' dtype (auto: the checkpoint's)."
    )
    max_batch_size: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOKENS,
        description="Requests batched at once (unset: TensorRT-LLM's default).",
    )
    max_num_tokens: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOKENS,
        description="Tokens in one step (unset: TensorRT-LLM's default); at least max_batch_size.",
    )
    tensor_parallel_size: int = Field(
        default=1, ge=1, le=MAX_GPUS, description="GPUs one run spans (the campaign's gpus must list enough)."
    )
    quantization: Literal[TRT_QUANT_ALGOS] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="A quantization applied when the engine is built (engine: tensorrt only); FP8, "
        "FP8_BLOCK_SCALES and NVFP4 need dtype float16, bfloat16 or auto.",
    )
    kv_cache_free_gpu_memory_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of free GPU memory for the KV cache (unset: TensorRT-LLM's default).",
    )
    enable_block_reuse: bool = Field(
        default=False, description="Reuse KV blocks across prompts that share a prefix (see above)."
    )

    @field_validator("extra")
    @classmethod
    def _kv_cache_config_is_a_mapping_without_camps_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        kv_cache = value.get("kv_cache_config")
        if kv_cache is None:
            return value
        if not isinstance(kv_cache, dict):
            raise ValueError(
                "extra.kv_cache_config must be a mapping of KvCacheConfig fields, e.g. {tokens_per_block: 64}"
            )
        for field, param in TRT_KV_CACHE_FIELDS.items():
            if field in kv_cache:
                raise ValueError(
                    f"extra.kv_cache_config.{field} belongs in params (the resolved spec records "
                    f"it): set params.{param}"
                )
        return value

    @model_validator(mode="after")
    def _step_fits_the_batch(self) -> TensorRTParams:
        tokens, batch = self.max_num_tokens, self.max_batch_size
        if tokens is not None and batch is not None and tokens < batch:
            raise ValueError(
                f"max_num_tokens ({tokens}) < max_batch_size ({batch}): a step could not give "
                "every request in the batch a token"
            )
        if self.quantization is not None and self.engine == "pytorch":
            raise ValueError(
                f"quantization {self.quantization} is applied only when a TensorRT engine is built "
                "(engine: tensorrt); the pytorch engine would run the checkpoint unquantised: name "
                "a pre-quantized checkpoint under models instead"
            )
        if self.quantization in ("FP8", "FP8_BLOCK_SCALES", "NVFP4") and self.dtype == "float32":
            raise ValueError(f"{self.quantization} quantization needs dtype float16, bfloat16 or auto")
        return self

    def gpus_needed(self) -> int:
        return self.tensor_parallel_size

"""PyTorch / transformers backend: ``generate()`` over fixed-size batches.

Greedy decoding; with ``fixed_output_length`` every request yields exactly
``max_output_tokens`` tokens (``min_new_tokens`` holds EOS back), so energy per token compares
like with like across configurations. Prompts are left-padded and truncated to
``max_input_tokens``. Each request's latency is its batch's latency (they finish together).
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from camp_contract.models import RunSpec
from camp_contract.params import PyTorchParams
from harness.backends.base import CacheReset, Completion, params_as
from harness.backends.tiny_model import is_tiny, save_tiny
from harness.workload import batches

TORCH_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def generated_lengths(rows: list[list[int]], eos_token_ids: Collection[int]) -> list[int]:
    """Tokens each request really generated: up to and including its first EOS (the rest of a
    finished row is padding while the batch's other rows go on)."""
    lengths = []
    for tokens in rows:
        first_eos = next((i for i, token in enumerate(tokens) if token in eos_token_ids), None)
        lengths.append(len(tokens) if first_eos is None else first_eos + 1)
    return lengths


def eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every id that ends a sequence: the tokenizer's EOS and the generation config's, which may
    be a list (chat models often stop on several tokens)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = configured if isinstance(configured, (list, tuple)) else [configured]
    return frozenset(int(i) for i in [*ids, tokenizer.eos_token_id] if i is not None)


def generate_kwargs(spec: RunSpec, pad_token_id: int | None) -> dict[str, Any]:
    limit = spec.workload.max_output_tokens
    kwargs: dict[str, Any] = {"max_new_tokens": limit, "do_sample": False, "pad_token_id": pad_token_id}
    if spec.workload.fixed_output_length:
        kwargs["min_new_tokens"] = limit
    return kwargs


class PyTorchBackend:
    def __init__(self) -> None:
        self.latency_scope = "batch"  # each request gets its batch's latency
        self.spec: RunSpec | None = None
        self.params = PyTorchParams()
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"

    def load(self, spec: RunSpec) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.params = params_as(spec, PyTorchParams)
        cuda = torch.cuda.is_available()
        if self.params.device == "cuda" and not cuda:
            raise RuntimeError("params.device is 'cuda' but torch sees no GPU")
        self.device = (
            "cuda" if self.params.device == "cuda" or (self.params.device == "auto" and cuda) else "cpu"
        )
        dtype = getattr(torch, TORCH_DTYPES[self.params.dtype]) if self.params.dtype != "auto" else "auto"
        options: dict[str, Any] = {"dtype": dtype, **self.params.extra}
        if self.params.attn_implementation:
            options["attn_implementation"] = self.params.attn_implementation
        # The tiny model is written to a temp dir first, so it loads through the very same
        # from_pretrained path (dtype, attention, extra) as a real checkpoint.
        with tempfile.TemporaryDirectory(prefix="camp-tiny-") as scratch:
            source = save_tiny(spec.model, spec.seed, Path(scratch)) if is_tiny(spec.model) else spec.model
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForCausalLM.from_pretrained(source, **options)
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens follow the real ones
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.to(self.device).eval()
        torch.manual_seed(spec.seed)

    def run(self, prompts: list[str]) -> list[Completion]:
        import torch

        assert self.spec is not None and self.model is not None, "load() first"
        kwargs = generate_kwargs(self.spec, self.tokenizer.pad_token_id)
        stops = eos_ids(self.model, self.tokenizer)
        completions: list[Completion] = []
        for batch in batches(prompts, self.params.batch_size):
            encoded = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.spec.workload.max_input_tokens,
            ).to(self.device)
            started = time.perf_counter()
            with torch.inference_mode():
                output = self.model.generate(**encoded, **kwargs)
            if self.device == "cuda":
                torch.cuda.synchronize()
            latency = time.perf_counter() - started
            new_tokens = output[:, encoded["input_ids"].shape[1] :].tolist()
            lengths = generated_lengths(new_tokens, stops)
            for mask, length in zip(encoded["attention_mask"].sum(dim=1).tolist(), lengths, strict=True):
                completions.append(
                    Completion(input_tokens=int(mask), output_tokens=length, latency_s=latency)
                )
        return completions

    def warmup_batch_size(self) -> int:
        return self.params.batch_size

    def reset_cache(self) -> CacheReset:
        return "nothing_cached"  # every run() call starts from an empty KV cache

    def release(self) -> None:
        self.model = None
        self.tokenizer = None
        gc.collect()
        try:
            import torch
        except ImportError:
            return
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

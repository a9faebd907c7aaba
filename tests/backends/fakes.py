"""Fake ``vllm`` and ``tensorrt_llm`` modules shaped like the real ones (classes taking the same
keyword arguments, RequestOutput-like results), installed through sys.modules."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeSampling:
    kwargs: dict[str, Any]


@dataclass
class FakeEngine:
    """Records what it was built with and answers generate() like the real engines."""

    kwargs: dict[str, Any]
    calls: list[tuple[list[str], Any]] = field(default_factory=list)
    with_metrics: bool = True
    shut_down: bool = False

    def generate(self, prompts: list[str], sampling: Any, use_tqdm: bool = True) -> list[Any]:
        self.calls.append((prompts, sampling))
        limit = sampling.kwargs["max_tokens"]
        keep = sampling.kwargs.get("truncate_prompt_tokens")
        outputs = []
        for i, prompt in enumerate(prompts):
            prompt_ids = (
                list(range(len(prompt.split())))[-keep:] if keep else list(range(len(prompt.split())))
            )
            produced = limit if sampling.kwargs.get("ignore_eos") else max(1, limit // 2)
            metrics = (
                types.SimpleNamespace(arrival_time=100.0, finished_time=100.5 + i)
                if self.with_metrics
                else None
            )
            outputs.append(
                types.SimpleNamespace(
                    prompt=prompt,
                    prompt_token_ids=prompt_ids,
                    metrics=metrics,
                    outputs=[types.SimpleNamespace(token_ids=list(range(produced)), text="x" * produced)],
                )
            )
        return outputs

    def shutdown(self) -> None:
        self.shut_down = True


def _engine_module(name: str, with_metrics: bool) -> types.ModuleType:
    """A module whose ``LLM(**kwargs)`` builds (and remembers) a FakeEngine."""
    module = types.ModuleType(name)
    module.engines = []  # type: ignore[attr-defined]

    def llm(**kwargs: Any) -> FakeEngine:
        engine = FakeEngine(kwargs, with_metrics=with_metrics)
        module.engines.append(engine)  # type: ignore[attr-defined]
        return engine

    module.LLM = llm  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kwargs: FakeSampling(kwargs)  # type: ignore[attr-defined]
    return module


def fake_vllm(with_metrics: bool = True) -> types.ModuleType:
    return _engine_module("vllm", with_metrics)


def fake_tensorrt_llm() -> tuple[types.ModuleType, types.ModuleType]:
    module = _engine_module("tensorrt_llm", with_metrics=False)
    llmapi = types.ModuleType("tensorrt_llm.llmapi")
    module.llmapi = llmapi  # type: ignore[attr-defined]
    llmapi.KvCacheConfig = lambda **kw: ("KvCacheConfig", kw)  # type: ignore[attr-defined]
    llmapi.QuantConfig = lambda **kw: ("QuantConfig", kw)  # type: ignore[attr-defined]
    llmapi.QuantAlgo = types.SimpleNamespace(  # type: ignore[attr-defined]
        FP8="QuantAlgo.FP8", W4A16_AWQ="QuantAlgo.W4A16_AWQ"
    )
    return module, llmapi

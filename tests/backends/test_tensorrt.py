from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from camp_contract.models import (
    BaselineSettings,
    MeasurementSettings,
    RunSpec,
    WarmupSettings,
    Workload,
)
from camp_contract.params import TensorRTParams
from harness.backends import get_backend
from harness.backends.tensorrt_backend import TensorRTBackend, llm_kwargs, sampling_kwargs
from harness.run import run_experiment
from tests.backends.fakes import BOS, FakeKvCacheConfig, fake_tensorrt_llm, token_ids, word_id
from tests.fake_hub import FakeHub


def spec(**params: object) -> RunSpec:
    return RunSpec(
        campaign="t",
        exp_id="r1",
        cycle=0,
        backend="tensorrt",
        model="meta-llama/Llama-3.1-8B-Instruct",
        params=params,
        workload=Workload(n_requests=3, max_input_tokens=64, max_output_tokens=16),
    )


def test_llm_kwargs_build_kv_cache_and_quant_configs() -> None:
    _, llmapi = fake_tensorrt_llm()
    params = TensorRTParams(
        max_batch_size=32,
        max_num_tokens=4096,
        tensor_parallel_size=2,
        engine="tensorrt",
        quantization="FP8",
        kv_cache_free_gpu_memory_fraction=0.8,
        extra={"max_seq_len": 2048},
    )
    assert llm_kwargs(spec(), params, llmapi) == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "tensor_parallel_size": 2,
        "dtype": "auto",
        "max_batch_size": 32,
        "max_num_tokens": 4096,
        "kv_cache_config": FakeKvCacheConfig(enable_block_reuse=False, free_gpu_memory_fraction=0.8),
        "quant_config": ("QuantConfig", {"quant_algo": "QuantAlgo.FP8"}),
        "max_seq_len": 2048,
    }
    assert llm_kwargs(spec(), TensorRTParams(), llmapi) == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "tensor_parallel_size": 1,
        "dtype": "auto",
        "kv_cache_config": FakeKvCacheConfig(enable_block_reuse=False),  # never the engine's default
    }


def test_greedy_fixed_length_sampling_in_fields_the_llm_api_has() -> None:
    # Greedy by top_k=1: the LLM API documents temperature as > 0, so none is sent.
    assert sampling_kwargs(spec()) == {"max_tokens": 16, "top_k": 1, "ignore_eos": True, "min_tokens": 16}
    module, _ = fake_tensorrt_llm()
    module.SamplingParams(**sampling_kwargs(spec()))


def test_backend_runs_and_shuts_the_engine_down(monkeypatch: pytest.MonkeyPatch) -> None:
    module, llmapi = fake_tensorrt_llm()
    monkeypatch.setitem(sys.modules, "tensorrt_llm", module)
    monkeypatch.setitem(sys.modules, "tensorrt_llm.llmapi", llmapi)
    backend = get_backend("tensorrt")
    assert isinstance(backend, TensorRTBackend)
    backend.load(spec(max_batch_size=2))
    long_prompt = " ".join(["word"] * 100)
    completions = backend.run(["a b", long_prompt, "f"])
    assert [c.output_tokens for c in completions] == [16, 16, 16]
    assert [c.input_tokens for c in completions] == [3, 64, 2]  # BOS counted; max_input_tokens 64
    sent, _ = module.engines[0].calls[0]
    assert sent[0] == {"prompt_token_ids": token_ids("a b")}
    assert sent[1]["prompt_token_ids"][:2] == [BOS, word_id("word")]  # the first tokens kept, as on PyTorch
    assert len({c.latency_s for c in completions}) == 1
    engine = module.engines[0]
    backend.release()
    assert engine.shut_down and backend.llm is None
    assert module._tensorrt_engine.engines == []  # the default runtime is the PyTorch one


def test_engine_tensorrt_builds_through_the_tensorrt_engine_llm_with_its_quantization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module, llmapi = fake_tensorrt_llm()
    monkeypatch.setitem(sys.modules, "tensorrt_llm", module)
    monkeypatch.setitem(sys.modules, "tensorrt_llm.llmapi", llmapi)
    monkeypatch.setitem(sys.modules, "tensorrt_llm._tensorrt_engine", module._tensorrt_engine)
    backend = get_backend("tensorrt")
    backend.load(spec(engine="tensorrt", quantization="FP8"))
    assert module.engines == []
    (engine,) = module._tensorrt_engine.engines
    assert engine.kwargs["quant_config"] == ("QuantConfig", {"quant_algo": "QuantAlgo.FP8"})
    assert [c.output_tokens for c in backend.run(["a b"])] == [16]
    backend.release()
    assert engine.shut_down


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"max_batch_size": 64, "max_num_tokens": 32}, r"max_num_tokens \(32\) < max_batch_size \(64\)"),
        (
            {"engine": "tensorrt", "quantization": "FP8", "dtype": "float32"},
            "FP8 quantization needs dtype",
        ),
        ({"engine": "tensorrt", "quantization": "INT3"}, "quantization"),
        ({"quantization": "FP8"}, "applied only when a TensorRT engine is built"),
        ({"engine": "trt"}, "engine"),
    ],
)
def test_combinations_tensorrt_rejects(params: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        TensorRTParams.model_validate(params)


def test_kv_cache_config_from_extra_gains_camps_fields_and_cannot_override_them() -> None:
    _, llmapi = fake_tensorrt_llm()
    params = TensorRTParams(enable_block_reuse=True, extra={"kv_cache_config": {"tokens_per_block": 64}})
    kwargs = llm_kwargs(spec(), params, llmapi)
    assert kwargs["kv_cache_config"] == FakeKvCacheConfig(enable_block_reuse=True, tokens_per_block=64)
    for extra, reason in [
        ({"kv_cache_config": {"enable_block_reuse": True}}, "set params.enable_block_reuse"),
        (
            {"kv_cache_config": {"free_gpu_memory_fraction": 0.5}},
            "set params.kv_cache_free_gpu_memory_fraction",
        ),
        ({"kv_cache_config": 0.5}, "must be a mapping of KvCacheConfig fields"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            TensorRTParams(extra=extra)


@pytest.mark.parametrize("with_reset", [False, True])
def test_with_block_reuse_on_the_window_reuses_no_warmup_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub, with_reset: bool
) -> None:
    # TensorRT-LLM 1.0 cannot empty its cache: only prompts kept apart protect the window.
    module, llmapi = fake_tensorrt_llm(with_reset=with_reset)
    monkeypatch.setitem(sys.modules, "tensorrt_llm", module)
    monkeypatch.setitem(sys.modules, "tensorrt_llm.llmapi", llmapi)
    run_spec = spec(max_batch_size=2, enable_block_reuse=True).model_copy(
        update={
            "workload": Workload(n_requests=6, max_input_tokens=40, max_output_tokens=8),
            "measurement": MeasurementSettings(
                power_source="synthetic",
                sample_hz=50,
                baseline=BaselineSettings(duration_s=0.05),
                warmup=WarmupSettings(min_requests=1, max_requests=6, window=3, cv_threshold=10),
            ),
        }
    )
    run_dir = tmp_path / "t" / "r1" / "c0"
    run_dir.mkdir(parents=True)
    result = run_experiment(run_spec, run_dir, results_root=tmp_path)
    (engine,) = module.engines
    assert engine.kwargs["kv_cache_config"].enable_block_reuse is True
    assert len(engine.calls) == 4  # three warmup batches, then the window
    assert engine.cached_tokens[-1] == [0] * 6
    assert result.environment["cache_reset"] == ("reset" if with_reset else "not_offered")
    assert result.environment["backend_params"]["enable_block_reuse"] is True

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from camp_contract.models import (
    BaselineSettings,
    MeasurementSettings,
    RunResult,
    RunSpec,
    WarmupSettings,
    Workload,
)
from camp_contract.params import VllmParams
from harness.backends import get_backend
from harness.backends.base import reset_prefix_cache
from harness.backends.token_prompts import token_prompts
from harness.backends.vllm_backend import VllmBackend, engine_kwargs, parse_outputs, sampling_kwargs
from harness.run import run_experiment
from tests.backends.fakes import BOS, FakeTokenizer, ResettableEngine, fake_vllm, token_ids, word_id
from tests.fake_hub import COMMIT, FakeHub


def spec(fixed: bool = True, workload: Workload | None = None, **params: object) -> RunSpec:
    return RunSpec(
        campaign="t",
        exp_id="v1",
        cycle=0,
        backend="vllm",
        model="Qwen/Qwen2.5-0.5B-Instruct",
        seed=7,
        params=params,
        workload=workload
        or Workload(n_requests=5, max_input_tokens=16, max_output_tokens=32, fixed_output_length=fixed),
        measurement=MeasurementSettings(
            power_source="synthetic",
            sample_hz=50,
            baseline=BaselineSettings(duration_s=0.05),
            warmup=WarmupSettings(min_requests=1, max_requests=4, window=2, cv_threshold=10),
        ),
    )


def test_engine_kwargs_leave_unset_options_to_vllm_defaults() -> None:
    params = VllmParams(max_num_seqs=64, enable_chunked_prefill=True, extra={"max_model_len": 4096})
    kwargs = engine_kwargs(spec(), params)
    assert kwargs == {
        "model": "Qwen/Qwen2.5-0.5B-Instruct",
        "seed": 7,
        "disable_log_stats": False,
        "dtype": "auto",
        "max_num_seqs": 64,
        "gpu_memory_utilization": 0.9,
        "tensor_parallel_size": 1,
        "enable_prefix_caching": False,  # always sent: vLLM V1 would turn it on
        "enable_chunked_prefill": True,
        "kv_cache_dtype": "auto",
        "enforce_eager": False,
        "max_model_len": 4096,
    }


def test_extra_can_switch_the_engine_stats_back_off() -> None:
    kwargs = engine_kwargs(spec(), VllmParams(extra={"disable_log_stats": True}))
    assert kwargs["disable_log_stats"] is True


def test_fixed_length_sampling_ignores_eos_and_sets_min_tokens() -> None:
    assert sampling_kwargs(spec()) == {
        "max_tokens": 32,
        "temperature": 0.0,
        "seed": 7,
        "ignore_eos": True,
        "min_tokens": 32,
    }
    assert "ignore_eos" not in sampling_kwargs(spec(fixed=False))


def test_sampling_kwargs_are_all_fields_recent_vllm_still_has() -> None:
    # vLLM 0.17 dropped truncate_prompt_tokens; its SamplingParams refuses unknown names.
    fake_vllm().SamplingParams(**sampling_kwargs(spec()))
    with pytest.raises(TypeError, match="truncate_prompt_tokens"):
        fake_vllm().SamplingParams(truncate_prompt_tokens=16)


def test_prompts_become_token_ids_cut_to_their_first_tokens_like_the_pytorch_backend() -> None:
    requests = token_prompts(FakeTokenizer(), ["a b c d e", "f"], max_input_tokens=3)
    assert requests == [
        {"prompt_token_ids": [BOS, word_id("a"), word_id("b")]},
        {"prompt_token_ids": [BOS, word_id("f")]},
    ]


@pytest.mark.parametrize("engine", ["v1", "v0"])
def test_latency_per_request_where_the_engine_reports_it(engine: str) -> None:
    sampling = fake_vllm().SamplingParams(max_tokens=4, ignore_eos=True)
    llm = fake_vllm(metrics=engine).LLM(disable_log_stats=False)  # type: ignore[arg-type]
    completions, scope = parse_outputs(llm.generate(["a b c", "d"], sampling), call_seconds=9.0)
    assert scope == "per_request" and [c.latency_s for c in completions] == [0.5, 1.5]
    assert [(c.input_tokens, c.output_tokens) for c in completions] == [(4, 4), (2, 4)]


def test_latency_is_the_whole_call_where_the_engine_recorded_no_timings() -> None:
    sampling = fake_vllm().SamplingParams(max_tokens=4)
    for llm in (fake_vllm().LLM(), fake_vllm(metrics="none").LLM(disable_log_stats=False)):
        completions, scope = parse_outputs(llm.generate(["a"], sampling), 9.0)
        assert scope == "whole_call" and completions[0].latency_s == 9.0


def test_backend_drives_the_engine_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    module = fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", module)
    backend = get_backend("vllm")
    assert isinstance(backend, VllmBackend)
    backend.load(spec(max_num_seqs=4))
    long_prompt = " ".join(["word"] * 40)
    completions = backend.run([long_prompt, "one two three", long_prompt, "x", "y z"])
    engine = module.engines[0]
    assert len(engine.calls) == 1 and engine.kwargs["max_num_seqs"] == 4
    sent, _ = engine.calls[0]
    assert sent[1] == {"prompt_token_ids": token_ids("one two three")}
    assert [c.input_tokens for c in completions] == [16, 4, 16, 2, 3]  # max_input_tokens is 16
    assert [c.output_tokens for c in completions] == [32] * 5
    assert backend.latency_scope == "per_request"
    assert backend.warmup_batch_size() == 4
    backend.release()
    assert backend.llm is None


def test_a_whole_harness_run_with_the_vllm_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub
) -> None:
    vllm = fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    run_dir = tmp_path / "t" / "v1" / "c0"
    run_dir.mkdir(parents=True)
    run_experiment(spec(max_num_seqs=2), run_dir, results_root=tmp_path)
    result = RunResult.model_validate_json((run_dir / "result.json").read_text())
    assert result.metrics.output_tokens == 5 * 32
    assert result.environment["latency_scope"] == "per_request"
    assert vllm.engines[0].kwargs["model"].endswith(f"snapshots/{COMMIT}")  # the fetched snapshot
    assert result.environment["model"]["revision"] == COMMIT


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (
            {"max_num_seqs": 256, "max_num_batched_tokens": 128},
            "max_num_batched_tokens (128) < max_num_seqs (256)",
        ),
        (
            {"enable_chunked_prefill": False, "max_num_batched_tokens": 2048, "max_model_len": 8192},
            "without chunked prefill a whole prompt must fit in one step",
        ),
        ({"kv_cache_dtype": "fp9"}, "kv_cache_dtype"),
        ({"quantization": "magic"}, "quantization"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
    ],
)
def test_combinations_vllm_rejects_are_rejected_with_the_reason(params: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        VllmParams.model_validate(params)


def test_gpus_needed_is_the_tensor_parallel_size() -> None:
    assert VllmParams(tensor_parallel_size=4).gpus_needed() == 4


def test_a_quantization_method_outside_the_list_goes_through_extra_unchecked() -> None:
    with pytest.raises(ValidationError, match=r"pass a newer one as extra: \{quantization: \.\.\.\}"):
        VllmParams(quantization="fp8_per_block")
    params = VllmParams(extra={"quantization": "fp8_per_block"})
    assert engine_kwargs(spec(), params)["quantization"] == "fp8_per_block"


def test_documented_kv_cache_dtypes_are_accepted() -> None:
    assert VllmParams(kv_cache_dtype="fp8_e5m2").kv_cache_dtype == "fp8_e5m2"


def run_whole(tmp_path: Path, run_spec: RunSpec) -> RunResult:
    run_dir = tmp_path / "t" / "v1" / "c0"
    run_dir.mkdir(parents=True)
    return run_experiment(run_spec, run_dir, results_root=tmp_path)


@pytest.mark.parametrize("caching", [False, True])
def test_warmup_never_primes_the_prefix_cache_for_the_measured_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub, caching: bool
) -> None:
    vllm = fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    # 40 tokens a prompt: two whole 16-token blocks that a later request could reuse
    workload = Workload(n_requests=6, max_input_tokens=40, max_output_tokens=8)
    result = run_whole(tmp_path, spec(workload=workload, max_num_seqs=2, enable_prefix_caching=caching))
    (engine,) = vllm.engines
    assert engine.kwargs["enable_prefix_caching"] is caching
    *warmup_calls, (measured, _) = engine.calls
    assert len(warmup_calls) == 2  # max_requests 4 in batches of max_num_seqs 2
    warmup_prompts = [p for prompts, _ in warmup_calls for p in prompts]
    assert not {tuple(p["prompt_token_ids"]) for p in warmup_prompts} & {
        tuple(p["prompt_token_ids"]) for p in measured
    }
    assert engine.resets == [len(warmup_calls)]  # emptied after the warmup, before the window
    assert engine.cached_tokens[-1] == [0] * 6  # no measured request skipped any prefill
    assert result.environment["cache_reset"] == "reset"
    assert result.environment["warmup_prompts"] == {"seed": 7 + 1_000_003, "source": "synthetic", "sent": 4}
    assert result.environment["backend_params"]["enable_prefix_caching"] is caching


def test_repeated_prompts_in_the_window_are_served_from_the_cache_and_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub: FakeHub
) -> None:
    vllm = fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    long_prompt = " ".join(f"w{i}" for i in range(40))
    workload = Workload(n_requests=3, max_input_tokens=40, max_output_tokens=8, prompts=(long_prompt,))
    result = run_whole(tmp_path, spec(workload=workload, enable_prefix_caching=True))
    assert vllm.engines[0].cached_tokens[-1] == [0, 32, 32]  # the repeats skip two blocks
    (warning,) = [w for w in result.warnings if w.kind == "duplicate_prompts"]
    assert warning.message.startswith("2 of the 3 measured prompts repeat an earlier one")
    assert result.environment["warmup_prompts"]["source"] == "shuffled_workload_prompts"


def test_the_cache_reset_says_what_the_engine_did() -> None:
    assert reset_prefix_cache(ResettableEngine({})) == "reset"
    assert reset_prefix_cache(ResettableEngine({}, refuse_reset=True)) == "refused"
    assert reset_prefix_cache(object()) == "not_offered"  # a vLLM older than 0.7


def test_prefix_caching_is_a_parameter_not_an_extra() -> None:
    assert VllmParams().enable_prefix_caching is False
    with pytest.raises(ValidationError, match=r"set params\.enable_prefix_caching"):
        VllmParams(extra={"enable_prefix_caching": True})

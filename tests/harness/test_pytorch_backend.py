"""The real PyTorch/transformers path on CPU with the offline tiny model (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from camp_contract.models import (
    BaselineSettings,
    MeasurementSettings,
    RunResult,
    RunSpec,
    WarmupSettings,
    Workload,
)
from harness.backends.pytorch import PyTorchBackend, generated_lengths
from harness.run import run_experiment
from harness.workload import prompts_for


def spec(
    batch_size: int = 3, fixed: bool = True, n: int = 7, seed: int = 0, dtype: str = "float32"
) -> RunSpec:
    return RunSpec(
        campaign="t",
        exp_id="e",
        cycle=0,
        backend="pytorch",
        model="tiny-random:gpt2",
        seed=seed,
        params={"batch_size": batch_size, "dtype": dtype, "device": "cpu"},
        workload=Workload(n_requests=n, max_input_tokens=12, max_output_tokens=9, fixed_output_length=fixed),
        measurement=MeasurementSettings(
            power_source="synthetic",
            sample_hz=50,
            baseline=BaselineSettings(duration_s=0.1),
            warmup=WarmupSettings(min_requests=1, max_requests=3, window=2, cv_threshold=10),
        ),
    )


@pytest.fixture(scope="module")
def loaded() -> PyTorchBackend:
    backend = PyTorchBackend()
    backend.load(spec())
    return backend


def test_fixed_length_gives_exact_token_counts_per_request(loaded: PyTorchBackend) -> None:
    prompts = prompts_for(spec().workload, 0)
    completions = loaded.run(prompts)
    assert len(completions) == 7
    assert [c.output_tokens for c in completions] == [9] * 7
    assert all(c.input_tokens == 12 for c in completions)  # truncated to max_input_tokens
    # batches of 3, 3, 1: requests of one batch share its latency
    assert completions[0].latency_s == completions[2].latency_s != completions[3].latency_s


def test_short_prompts_count_only_their_own_tokens(loaded: PyTorchBackend) -> None:
    completions = loaded.run(["energy", "energy of language model inference"])
    assert [c.input_tokens for c in completions] == [1, 5]


def test_same_seed_same_weights_same_output() -> None:
    first, second = PyTorchBackend(), PyTorchBackend()
    first.load(spec(seed=3))
    second.load(spec(seed=3))
    a = [p.detach().clone() for p in first.model.parameters()]
    b = [p.detach().clone() for p in second.model.parameters()]
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    other = PyTorchBackend()
    other.load(spec(seed=4))
    assert not all((x == y).all() for x, y in zip(a, other.model.parameters(), strict=True))
    for backend in (first, second, other):
        backend.release()
        assert backend.model is None


def test_float32_on_cpu_and_bfloat16_when_asked(loaded: PyTorchBackend) -> None:
    assert loaded.device == "cpu"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    half = PyTorchBackend()
    half.load(spec(dtype="bfloat16", n=2))
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    assert [c.output_tokens for c in half.run(["energy of", "model"])] == [9, 9]
    half.release()


def always_says_eos(backend: PyTorchBackend) -> None:
    """Rewire the real model so EOS is the greedy choice at every step: the final layer norm
    outputs a constant equal to EOS's (tied) embedding, made the longest of all embeddings."""
    model = backend.model
    eos = backend.tokenizer.eos_token_id
    with torch.no_grad():
        embeddings = model.transformer.wte.weight
        embeddings[eos] *= 10 * embeddings.norm(dim=1).max() / embeddings[eos].norm()
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(embeddings[eos])


def test_output_tokens_stop_at_eos_unless_the_length_is_fixed() -> None:
    free = PyTorchBackend()
    free.load(spec(fixed=False, batch_size=2))
    always_says_eos(free)
    assert [c.output_tokens for c in free.run(["energy of", "model", "power"])] == [1, 1, 1]
    fixed = PyTorchBackend()
    fixed.load(spec(fixed=True, batch_size=2))
    always_says_eos(fixed)  # min_new_tokens holds EOS back: exactly max_output_tokens each
    assert [c.output_tokens for c in fixed.run(["energy of", "model", "power"])] == [9, 9, 9]


def test_generated_lengths_stop_at_the_first_eos() -> None:
    assert generated_lengths([[5, 6, 2, 2], [5, 6, 7, 8], [2, 0, 0, 0]], {2}) == [3, 4, 1]
    assert generated_lengths([[5, 9, 6, 2]], {2, 9}) == [2]  # several stop tokens: the first one counts
    assert generated_lengths([[5, 6]], set()) == [2]


def test_unknown_tiny_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="only 'tiny-random:gpt2'"):
        PyTorchBackend().load(spec().model_copy(update={"model": "tiny-random:llama"}))


def test_a_whole_run_through_the_harness(tmp_path: Path) -> None:
    run_dir = tmp_path / "t" / "e" / "c0"
    run_dir.mkdir(parents=True)
    result = run_experiment(spec(), run_dir, results_root=tmp_path)
    assert RunResult.model_validate_json((run_dir / "result.json").read_text()) == result
    assert result.metrics.output_tokens == 7 * 9
    assert result.metrics.energy_j > 0 and result.metrics.load_time_s > 0
    assert "torch" in result.environment["packages"]

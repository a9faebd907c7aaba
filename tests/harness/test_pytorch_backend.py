"""The real PyTorch/transformers path on CPU with the offline tiny model (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.pytorch import PyTorchBackend, generated_lengths
from harness.contract import MeasurementSettings, RunResult, RunSpec, Workload
from harness.run import run_experiment
from harness.workload import prompts_for


def spec(batch_size: int = 3, fixed: bool = True, n: int = 7, seed: int = 0) -> RunSpec:
    return RunSpec(
        campaign="t",
        exp_id="e",
        cycle=0,
        backend="pytorch",
        model="tiny-random:gpt2",
        seed=seed,
        params={"batch_size": batch_size, "dtype": "float32", "device": "cpu"},
        workload=Workload(n_requests=n, max_input_tokens=12, max_output_tokens=9, fixed_output_length=fixed),
        measurement=MeasurementSettings(
            power_source="synthetic",
            sample_hz=50,
            baseline={"duration_s": 0.1},
            warmup={"min_requests": 1, "max_requests": 3, "window": 2, "cv_threshold": 10},
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


def test_generated_lengths_stop_at_the_first_eos() -> None:
    assert generated_lengths([[5, 6, 2, 2], [5, 6, 7, 8], [2, 0, 0, 0]], eos_token_id=2) == [3, 4, 1]
    assert generated_lengths([[5, 6]], eos_token_id=None) == [2]


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

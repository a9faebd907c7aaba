"""The harness as the container runs it: `camp-harness run spec.json` with the stub backend."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from camp_contract import layout
from camp_contract.atomic import atomic_write_text
from camp_contract.failure import RunFailure, read_failure
from camp_contract.models import (
    BaselineSettings,
    MeasurementSettings,
    Metrics,
    RunResult,
    RunSpec,
    SettleSettings,
    WarmupSettings,
    Workload,
)
from harness import __version__ as camp_version
from harness.backends.base import Completion
from harness.backends.stub import StubBackend
from harness.measurement import nvml
from harness.measurement.energy import window_stats
from harness.run import _metrics, run_experiment
from harness.workload import prompts_for
from tests.harness.fake_nvml import COUNTER_UPDATE_S, FakeGpu, FakeNvml


def make_spec(**params: object) -> RunSpec:
    return RunSpec(
        campaign="t",
        exp_id="e1",
        cycle=0,
        backend="stub",
        model="m",
        params={"batch_size": 2, "work_ms_per_token": 2.0, **params},
        workload=Workload(n_requests=6, max_input_tokens=10, max_output_tokens=20),
        measurement=MeasurementSettings(
            power_source="synthetic",
            sample_hz=100,
            baseline=BaselineSettings(duration_s=0.1),
            settle=SettleSettings(probe_s=0.1, poll_s=0.05, steady_s=0.2),
            warmup=WarmupSettings(min_requests=2, max_requests=8, window=2, cv_threshold=0.5),
        ),
    )


def harness(spec_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", str(spec_path)], capture_output=True, text=True, timeout=120
    )


def write_spec(tmp_path: Path, spec: RunSpec, **bad_params: object) -> Path:
    """``spec`` as spec.json; ``bad_params`` written over its params as they are (no spec with
    invalid params can be built in Python: they are typed by the backend)."""
    path = layout.run_files(tmp_path, spec.campaign, spec.exp_id, spec.cycle).spec
    written = spec.model_dump(mode="json")
    written["params"].update(bad_params)
    atomic_write_text(path, json.dumps(written))
    return path


def test_a_run_writes_a_valid_result_whose_joules_match_the_known_trace(tmp_path: Path) -> None:
    # ~0.4 s of work: the synthetic counter moves on every sample, so its step is only bounded by
    # the 10 ms sample period, and a window of fewer than 20 of those would be warned about
    path = write_spec(tmp_path, make_spec(work_ms_per_token=6.0))
    done = harness(path)
    assert done.returncode == 0, done.stderr
    result = RunResult.model_validate_json((path.parent / "result.json").read_text())
    m, energy = result.metrics, result.energy
    # the synthetic source draws 160 W while busy and 40 W idle: the window's joules are known exactly
    assert energy.method == "counter"
    assert energy.counter_j == pytest.approx(160.0 * m.duration_s, rel=1e-3)
    assert energy.integrated_j == pytest.approx(energy.counter_j, rel=1e-3)
    assert energy.adjusted_j == pytest.approx(120.0 * m.duration_s, rel=1e-3)
    assert result.baseline.power_w == 40.0
    assert m.output_tokens == 6 * 20 and m.n_requests == 6 and m.input_tokens == 6 * 10
    assert m.energy_per_output_token_j == pytest.approx(energy.adjusted_j / 120)
    assert m.duration_s == pytest.approx(result.window[1] - result.window[0])
    # (the sampler-rate warning depends on how busy this machine's CPUs are, not on the harness)
    assert result.warmup.converged
    assert [w for w in result.warnings if w.kind != "sampler_rate"] == []
    table = pq.read_table(path.parent / "timeseries.parquet").to_pandas()
    assert {"t_s", "device", "phase", "power_w", "energy_j", "temperature_c"} <= set(table.columns)
    measured = table[table.phase == "measured"]
    assert measured.t_s.min() == pytest.approx(result.window[0]) and measured.power_w.eq(160.0).all()
    assert "HF_TOKEN" not in str(result.environment)
    assert result.provenance.camp_version == camp_version
    assert result.provenance.source_revision != "unknown"  # run from this checkout
    assert result.sampling is not None and result.sampling.asked_hz == 100
    assert result.sampling.n_samples_window == len(measured)
    assert result.sampling.power_readings == {"SYNTHETIC-0": "synthetic"}


def test_a_whole_run_on_fake_nvml_meters_the_selected_gpu_by_uuid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNvml(
        [FakeGpu(uuid="GPU-aaaa", power_w=90.0), FakeGpu(uuid="GPU-bbbb", power_w=210.0, ecc_mode=(1, 0))]
    )
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.delenv("NVIDIA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb")  # the harness rewrites it: restored after
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    spec = make_spec(work_ms_per_token=10.0)
    spec = spec.model_copy(
        update={"measurement": spec.measurement.model_copy(update={"power_source": "nvml"})}
    )
    path = write_spec(tmp_path, spec)
    result = run_experiment(spec, path.parent, results_root=tmp_path)
    duration, energy = result.metrics.duration_s, result.energy
    assert energy.integrated_j == pytest.approx(210.0 * duration)
    assert energy.counter_j == pytest.approx(210.0 * duration, abs=2 * 210.0 * COUNTER_UPDATE_S)
    # the step is estimated over the whole trace; 100 Hz samples resolve it and refine the edges
    assert energy.counter_step_s == pytest.approx(COUNTER_UPDATE_S, abs=0.02)
    if energy.counter_step_resolved:  # (unless a starved CPU slowed the sampler)
        assert energy.method == "counter_refined" and "resolved by samples" in energy.method_reason
        assert energy.total_j == pytest.approx(210.0 * duration, abs=210.0 * 0.03)
    assert result.baseline.power_w == 210.0 and result.baseline.method == "bare_idle"
    assert [g["uuid"] for g in result.environment["gpus"]] == ["GPU-bbbb"]
    table = pq.read_table(path.parent / "timeseries.parquet").to_pandas()
    assert set(table.device) == {"GPU-bbbb"} and table.power_w.eq(210.0).all()
    assert result.sampling is not None and result.sampling.power_readings == {"GPU-bbbb": "instant"}
    assert result.sampling.n_samples_window == len(table[table.phase == "measured"])
    (gpu,) = result.environment["gpus"]
    assert gpu["ecc_mode"] == {"current": True, "pending": False} and gpu["sm_app_clock_mhz"] == 1755
    assert fake.initialised == 0  # NVML shut down after the run


def test_bad_spec_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text('{"campaign": "t"}')
    done = harness(path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "is not a valid spec" in done.stderr
    failure = read_failure(tmp_path / "error.json")
    assert failure is not None and failure.stage == "spec" and failure.error_type == "ValidationError"
    assert (failure.exp_id, failure.cycle) == (None, None)  # neither the spec nor its path says
    assert failure.message == f"{path} is not a valid spec (exp_id: Field required (and 3 more))"


def test_a_spec_that_cannot_be_read_is_recorded_for_the_run_its_path_names(tmp_path: Path) -> None:
    path = layout.run_files(tmp_path, "t", "e1", 3).spec
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff not json")
    assert harness(path).returncode == 2
    failure = read_failure(path.parent / "error.json")
    assert failure is not None and (failure.exp_id, failure.cycle, failure.stage) == ("e1", 3, "spec")


def test_invalid_params_are_a_spec_failure_naming_the_field(tmp_path: Path) -> None:
    path = write_spec(tmp_path, make_spec(), batch_size=0)
    assert harness(path).returncode == 2
    failure = read_failure(path.parent / "error.json")
    assert failure is not None and (failure.exp_id, failure.cycle, failure.stage) == ("e1", 0, "spec")
    assert "params.batch_size: Input should be greater than or equal to 1" in failure.message


def test_failed_run_exits_1_with_the_reason_and_leaves_no_result(tmp_path: Path) -> None:
    path = write_spec(tmp_path, make_spec(fault="crash"))
    done = harness(path)
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "camp-harness: run failed: RuntimeError: injected fault: the backend crashed"
    )
    assert not (path.parent / "result.json").exists()
    assert read_failure(path.parent / "error.json") == RunFailure(
        exp_id="e1",
        cycle=0,
        stage="run",
        error_type="RuntimeError",
        message="injected fault: the backend crashed",
    )


def test_stub_counts_tokens_and_batching_amortises_steps() -> None:
    backend = StubBackend()
    one = make_spec(batch_size=1, work_ms_per_token=0.5)
    backend.load(one)
    prompts = prompts_for(one.workload, 0)
    single = backend.run(prompts)
    backend.load(make_spec(batch_size=3, work_ms_per_token=0.5))
    batched = backend.run(prompts)
    assert [c.output_tokens for c in single] == [20] * 6
    assert sum(c.latency_s for c in batched[::3]) < sum(c.latency_s for c in single)
    variable = make_spec().model_copy(
        update={"workload": Workload(n_requests=6, max_output_tokens=20, fixed_output_length=False)}
    )
    backend.load(variable)
    lengths = [c.output_tokens for c in backend.run(prompts_for(variable.workload, 0))]
    assert all(1 <= n <= 20 for n in lengths) and lengths == [
        c.output_tokens for c in backend.run(prompts_for(variable.workload, 0))
    ]


def test_prompts_are_deterministic_per_seed() -> None:
    workload = Workload(n_requests=3, max_input_tokens=5)
    assert prompts_for(workload, 1) == prompts_for(workload, 1) != prompts_for(workload, 2)
    assert all(len(p.split()) == 5 for p in prompts_for(workload, 1))
    given = Workload(n_requests=5, prompts=("a b", "c"))
    assert prompts_for(given, 0) == ["a b", "c", "a b", "c", "a b"]


def test_a_run_records_its_warmup_prompts_and_warns_of_a_window_that_repeats_itself(tmp_path: Path) -> None:
    workload = Workload(n_requests=6, max_input_tokens=10, max_output_tokens=20, prompts=("a b c", "d e f"))
    spec = make_spec().model_copy(update={"workload": workload})
    path = write_spec(tmp_path, spec)
    result = run_experiment(spec, path.parent, results_root=tmp_path)
    assert result.environment["warmup_prompts"] == {
        "seed": 1_000_003,  # the run's seed 0, offset: another stream than the measured prompts
        "source": "shuffled_workload_prompts",
        "sent": result.warmup.n_requests,
    }
    assert result.environment["cache_reset"] == "nothing_cached"
    (repeats,) = [w for w in result.warnings if w.kind == "duplicate_prompts"]
    assert repeats.message.startswith("4 of the 6 measured prompts repeat an earlier one")


def test_no_output_tokens_give_an_undefined_j_per_token_not_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend that generates nothing: J/token is NaN in Python, null in result.json, the
    result still loads, and the run says why."""
    monkeypatch.setattr(StubBackend, "_output_tokens", lambda self, prompt: 0)
    spec = make_spec()
    path = write_spec(tmp_path, spec)
    result = run_experiment(spec, path.parent, results_root=tmp_path)
    assert result.metrics.output_tokens == 0
    assert math.isnan(result.metrics.energy_per_output_token_j)
    assert [w.kind for w in result.warnings if w.kind == "no_output_tokens"] == ["no_output_tokens"]
    written = json.loads((path.parent / "result.json").read_text())
    assert written["metrics"]["energy_per_output_token_j"] is None
    loaded = RunResult.model_validate_json((path.parent / "result.json").read_bytes())
    assert math.isnan(loaded.metrics.energy_per_output_token_j)
    assert loaded.metrics.energy_per_request_j == result.metrics.energy_per_request_j


def test_a_zero_length_window_has_undefined_rates_not_zero() -> None:
    completions = [Completion(input_tokens=4, output_tokens=8, latency_s=0.0)]
    metrics = _metrics(completions, 0.0, 1.0, 0.5, math.nan, 0.0, 0.1, 0.2)
    assert math.isnan(metrics.throughput_tokens_per_s) and math.isnan(metrics.requests_per_s)
    assert metrics.energy_per_output_token_j == 0.5 / 8
    assert math.isnan(window_stats([], 1.0, 1.0, 0.0).avg_power_w)
    again = Metrics.model_validate_json(metrics.model_dump_json())
    assert math.isnan(again.throughput_tokens_per_s) and math.isnan(again.avg_power_w)


def test_the_baseline_cache_is_under_the_results_root_the_spec_path_names(tmp_path: Path) -> None:
    laid_out = write_spec(tmp_path / "results", make_spec())
    by_hand = tmp_path / "by-hand" / "somewhere" / "deep" / "spec.json"
    atomic_write_text(by_hand, make_spec().model_dump_json())
    for path in (laid_out, laid_out, by_hand, by_hand):
        assert harness(path).returncode == 0
    cached = {
        path: RunResult.model_validate_json((path.parent / "result.json").read_text()).baseline.cached
        for path in (laid_out, by_hand)
    }
    assert cached == {laid_out: True, by_hand: False}  # outside the layout: no results root to guess
    assert [p.parent.name for p in tmp_path.rglob("baseline-*.json")] == [".cache"]
    assert (tmp_path / "results" / ".cache").is_dir()

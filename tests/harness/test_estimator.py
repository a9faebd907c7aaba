"""Short windows against the counter's steps: the estimator chosen, its accuracy, its warnings.

The fake NVML is honest about what makes short windows hard: the counter advances every ~100 ms
with jittered update instants, and the instant power is sensed only 25 ms of every 100 ms.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camp_contract.models import EnergyInfo
from harness.measurement.energy import MIN_COUNTER_STEPS, energy_info, warnings_for
from harness.measurement.power import DeviceReading, Reading
from tests.harness.fake_nvml import COUNTER_UPDATE_S, FakeGpu, square_wave
from tests.harness.simulated_window import SimulatedWindow, simulate_window


def measured(sim: SimulatedWindow, hz: float) -> tuple[EnergyInfo, set[str], float]:
    """(energy info, warning kinds, relative error of the reported total against the truth)."""
    info = energy_info(sim.readings, sim.start, sim.end, baseline_w=0.0)
    kinds = {w.kind for w in warnings_for(sim.readings, sim.start, sim.end, info, 1 / hz)}
    return info, kinds, abs(info.total_j - sim.truth_j) / sim.truth_j


@settings(max_examples=40, deadline=None)
@given(duration=st.floats(0.3, 0.6), seed=st.integers(0, 10_000))
def test_constant_power_windows_of_0_3_to_0_6_s_at_100_hz_are_within_5_percent_and_warned(
    duration: float, seed: int
) -> None:
    sim = simulate_window([FakeGpu(uuid="GPU-a", power_w=250.0, seed=seed)], 100, duration, seed=seed)
    info, kinds, error = measured(sim, 100)
    assert info.method == "counter_refined"
    assert error < 0.05
    assert "few_counter_steps" in kinds  # 3–6 steps: fewer than MIN_COUNTER_STEPS
    assert "counter_disagreement" not in kinds  # the step explains the plain delta's offset
    assert info.counter_step_s == pytest.approx(COUNTER_UPDATE_S, abs=0.01) and info.counter_step_resolved


def test_the_plain_counter_is_far_off_on_those_windows() -> None:
    """What camp reported before: the delta between the edge samples, off by up to a step."""
    errors = []
    for seed in range(30):
        sim = simulate_window(
            [FakeGpu(uuid="GPU-a", power_w=250.0, seed=seed)], 100, 0.3 + seed / 100, seed=seed
        )
        info, _, _ = measured(sim, 100)
        assert info.counter_j is not None
        errors.append(abs(info.counter_j - sim.truth_j) / sim.truth_j)
    assert max(errors) > 0.10


@pytest.mark.parametrize("period_s", [0.05, 0.2, 1.0])
@pytest.mark.parametrize("duration_s", [0.3, 0.6, 1.0, 2.2, 3.1])
def test_square_wave_loads_are_within_5_percent_or_warned(period_s: float, duration_s: float) -> None:
    watts, joules = square_wave(40.0, 160.0, period_s)
    for seed in range(8):
        gpu = FakeGpu(uuid="GPU-a", trace=watts, trace_energy=joules, seed=seed)
        sim = simulate_window([gpu], 100, duration_s + seed * 0.0123, seed=seed)
        _, kinds, error = measured(sim, 100)
        assert error < 0.05 or kinds & {"few_counter_steps", "counter_disagreement"}, (seed, error, kinds)
        if duration_s / COUNTER_UPDATE_S >= MIN_COUNTER_STEPS:
            assert error < 0.05 and "few_counter_steps" not in kinds


def test_a_load_faster_than_the_sensing_is_calibrated_on_the_counter() -> None:
    """A load switching every 25 ms: the part-time sensor sees only its 160 W half (the integral is
    60 % high, and says so), yet the slivers of sampled power, scaled by the counter over the span
    they share, keep the refined estimate close."""
    watts, joules = square_wave(40.0, 160.0, 0.05)
    for seed in range(8):
        gpu = FakeGpu(uuid="GPU-a", trace=watts, trace_energy=joules, seed=seed)
        sim = simulate_window([gpu], 100, 0.8 + seed * 0.0123, seed=seed)
        info, kinds, error = measured(sim, 100)
        assert info.integrated_j == pytest.approx(1.6 * sim.truth_j, rel=0.05)
        assert "counter_disagreement" in kinds
        assert info.method == "counter_refined" and error < 0.03


@pytest.mark.parametrize("duration_s", [0.3, 0.45, 0.6])
def test_two_gpus_with_their_own_update_instants_are_refined_each(duration_s: float) -> None:
    for seed in range(6):
        gpus = [FakeGpu(uuid="GPU-a", power_w=100.0, seed=seed), FakeGpu(uuid="GPU-b", power_w=250.0)]
        sim = simulate_window(gpus, 100, duration_s, seed=seed)
        info, _, error = measured(sim, 100)
        assert info.method == "counter_refined" and error < 0.05


def test_a_10_hz_sampler_cannot_refine_a_100_ms_counter_and_says_so() -> None:
    sim = simulate_window([FakeGpu(uuid="GPU-a", power_w=250.0)], 10, 1.23)
    info, kinds, _ = measured(sim, 10)
    assert info.method == "counter" and info.total_j == info.counter_j
    assert "cannot place the counter's updates" in info.method_reason
    warnings = warnings_for(sim.readings, sim.start, sim.end, info, 0.1)
    (few,) = [w.message for w in warnings if w.kind == "few_counter_steps"]
    assert "raise sample_hz" in few
    assert "counter_disagreement" not in kinds


def test_the_plain_counter_on_a_long_enough_window_needs_no_warning() -> None:
    sim = simulate_window([FakeGpu(uuid="GPU-a", power_w=250.0)], 10, 3.07)
    info, kinds, error = measured(sim, 10)
    assert info.method == "counter" and kinds == set() and error < 1 / MIN_COUNTER_STEPS


def stepped(step_s: float, seconds: float, hz: float = 100, watts: float = 200.0) -> list[Reading]:
    """A device drawing ``watts``, its counter refreshed exactly every ``step_s``, sampled at ``hz``."""
    readings = []
    for i in range(round(seconds * hz) + 1):
        t = i / hz
        last_update = step_s * int(t / step_s + 1e-9)
        readings.append(Reading(t, (DeviceReading(power_w=watts, energy_j=watts * last_update),)))
    return readings


def test_a_window_inside_one_step_is_integrated_power() -> None:
    readings = stepped(0.1, 3.0)
    start, end = 1.03, 1.07  # 30 ms from the nearest update at either edge
    info = energy_info(readings, start, end, baseline_w=0.0)
    assert info.method == "integration" and info.total_j == pytest.approx(200.0 * 0.04)
    assert "too short against the counter's step" in info.method_reason
    assert info.disagreement is None


def test_a_counter_that_barely_moved_gives_integration_and_a_warning() -> None:
    readings = stepped(1.0, 1.5)  # one update in the whole trace
    info = energy_info(readings, 0.2, 0.7, baseline_w=0.0)
    assert info.method == "integration" and info.counter_step_s is None
    assert info.total_j == pytest.approx(200.0 * 0.5)
    kinds = [w.kind for w in warnings_for(readings, 0.2, 0.7, info, 0.01)]
    assert kinds == ["few_counter_steps"]


def test_a_counter_that_truly_disagrees_is_still_flagged_on_a_short_window() -> None:
    sim = simulate_window([FakeGpu(uuid="GPU-a", power_w=250.0)], 100, 0.5)
    skewed = [
        Reading(r.t_s, tuple(DeviceReading(d.power_w, (d.energy_j or 0.0) * 1.1) for d in r.devices))
        for r in sim.readings
    ]
    info = energy_info(skewed, sim.start, sim.end, baseline_w=0.0)
    kinds = {w.kind for w in warnings_for(skewed, sim.start, sim.end, info, 0.01)}
    assert "counter_disagreement" in kinds


def test_results_written_before_the_estimator_was_chosen_still_load() -> None:
    old = {
        "method": "counter",
        "total_j": 10.0,
        "counter_j": 10.0,
        "integrated_j": 10.1,
        "adjusted_j": 8.0,
        "disagreement": 0.01,
    }
    info = EnergyInfo.model_validate(old)
    assert (info.method_reason, info.counter_step_s, info.counter_step_resolved) == ("", None, False)

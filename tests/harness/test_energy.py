from __future__ import annotations

import pytest

from harness.measurement.energy import energy_info, integrate, warnings_for, window
from harness.measurement.power import DeviceReading, Reading


def trace(
    points: list[tuple[float, float]],
    counter: bool = True,
    temps: list[float] | None = None,
    throttle: int = 0,
) -> list[Reading]:
    """Readings at (t, watts); the counter is the exact integral of the piecewise-linear trace."""
    out, energy = [], 0.0
    for i, (t, watts) in enumerate(points):
        if i:
            energy += (t - points[i - 1][0]) * (watts + points[i - 1][1]) / 2
        out.append(
            Reading(
                t,
                (
                    DeviceReading(
                        power_w=watts,
                        energy_j=energy if counter else None,
                        temperature_c=temps[i] if temps else None,
                        throttle_reasons=throttle,
                    ),
                ),
            )
        )
    return out


def test_trapezoid_is_exact_on_a_linear_ramp_and_cut_to_the_window() -> None:
    readings = trace([(0, 100), (1, 200), (2, 300), (3, 300)])
    assert integrate(readings, 0, 2) == pytest.approx(150 + 250)
    assert [r.t_s for r in window(readings, 1, 2)] == [1, 2]


def test_counter_is_used_and_baseline_subtracted_over_the_window_only() -> None:
    readings = trace([(10, 200), (11, 200), (12, 200)])
    info = energy_info(readings, 10, 12, baseline_w=50)
    assert info.method == "counter" and info.total_j == pytest.approx(400)
    assert info.adjusted_j == pytest.approx(400 - 50 * 2)
    assert info.disagreement == pytest.approx(0)


def test_multi_gpu_power_is_summed() -> None:
    reading = Reading(0, (DeviceReading(power_w=100, energy_j=5), DeviceReading(power_w=250, energy_j=7)))
    assert reading.power_w == 350 and reading.energy_j == 12
    assert (
        Reading(0, (DeviceReading(power_w=1, energy_j=None), DeviceReading(power_w=1, energy_j=2))).energy_j
        is None
    )


def test_warnings_a_researcher_must_see() -> None:
    readings = trace([(0, 100), (0.05, 100), (0.1, 100)], temps=[40, 44, 52], throttle=0x20)
    info = energy_info(readings, 0, 0.1, baseline_w=150)
    warnings = " | ".join(w.message for w in warnings_for(readings, 0, 0.1, info, sample_period_s=0.1))
    assert "shorter than 10 sampling periods" in warnings
    assert "software thermal slowdown" in warnings
    assert "temperature drifted +12.0 °C" in warnings
    assert "adjusted energy is negative" in warnings
    kinds = {w.kind for w in warnings_for(readings, 0, 0.1, info, sample_period_s=0.1)}
    assert kinds == {"short_window", "few_counter_steps", "throttled", "temperature_drift", "negative_energy"}


def test_disagreement_warning_when_counter_and_integration_differ() -> None:
    readings = trace([(t / 10, 100) for t in range(101)])
    skewed = [
        Reading(r.t_s, (DeviceReading(power_w=100, energy_j=(r.energy_j or 0.0) * 1.05),)) for r in readings
    ]
    info = energy_info(skewed, 0, 10, baseline_w=0)
    assert "disagree by 4.8%" in " ".join(w.message for w in warnings_for(skewed, 0, 10, info, 0.1))
    clean = energy_info(readings, 0, 10, baseline_w=0)
    assert warnings_for(readings, 0, 10, clean, 0.1) == []

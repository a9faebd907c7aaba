"""The sampling block of a result: the asked rate, the rate the sampler achieved in the measured
window (its own ticks, not the edge marks), the sample count and the longest gap."""

from __future__ import annotations

import pytest

from harness.measurement.energy import sampling_warnings
from harness.measurement.power import DeviceReading, Reading
from harness.measurement.sampling import sampling_info

READINGS = {"GPU-aaaa": "instant"}


def trace(ticks: list[float], start: float = 0.0, end: float = 2.0) -> list[Reading]:
    """The window's two edge marks, the sampler's ticks, and a reading outside on each side."""
    times = [start - 0.5, start, *ticks, end, end + 0.5]
    return [Reading(t, (DeviceReading(power_w=100.0, energy_j=None),)) for t in times]


def test_a_sampler_that_kept_its_rate() -> None:
    ticks = [0.05 + 0.1 * k for k in range(20)]  # 10 Hz over a 2 s window
    info = sampling_info(trace(ticks), 0.0, 2.0, asked_hz=10, power_readings=READINGS)
    assert info.asked_hz == 10 and info.achieved_hz == pytest.approx(10.0)
    assert info.n_samples_window == 22  # the ticks and the two edge marks, nothing outside
    assert info.max_interval_s == pytest.approx(0.1)
    assert info.power_readings == READINGS


def test_a_stall_shows_as_a_lower_rate_and_a_long_gap() -> None:
    ticks = [0.05 + 0.1 * k for k in range(20) if not 5 <= k <= 12]  # 0.8 s without a sample
    info = sampling_info(trace(ticks), 0.0, 2.0, asked_hz=10, power_readings=READINGS)
    assert info.achieved_hz == pytest.approx(6.0) and info.n_samples_window == 14
    assert info.max_interval_s == pytest.approx(0.9)


@pytest.mark.parametrize(("kept", "warned"), [(20, False), (16, False), (15, True), (0, True)])
def test_the_recorded_rate_is_the_one_the_sampler_rate_warning_judges(kept: int, warned: bool) -> None:
    readings = trace([0.05 + 0.1 * k for k in range(kept)])
    info = sampling_info(readings, 0.0, 2.0, asked_hz=10, power_readings=READINGS)
    assert bool(sampling_warnings(readings, 0.0, 2.0, 10)) == warned
    assert (info.achieved_hz < 0.8 * info.asked_hz) == warned


def test_an_empty_window_has_no_rate() -> None:
    info = sampling_info(trace([], 1.0, 1.0), 1.0, 1.0, asked_hz=10, power_readings={})
    assert (info.achieved_hz, info.n_samples_window, info.max_interval_s) == (0.0, 2, 0.0)

"""From samples to joules: counter delta, trapezoid integration, baseline adjustment, warnings."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from camp_contract.models import EnergyInfo, RunWarning
from harness.measurement.power import Reading

DISAGREEMENT_WARN = 0.02  # counter vs integration
MIN_SAMPLES_IN_WINDOW = 10
TEMPERATURE_DRIFT_WARN_C = 5.0
ACHIEVED_RATE_WARN = 0.8  # of the asked sample rate
# Clock-event reasons that mean the GPU slowed itself (not idle / app clocks / user setting).
THROTTLE_BITS = {
    0x4: "software power cap",
    0x8: "hardware slowdown",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "hardware power brake",
}


def window(readings: Sequence[Reading], start: float, end: float) -> list[Reading]:
    return [r for r in readings if start <= r.t_s <= end]


def integrate(readings: Sequence[Reading], start: float, end: float) -> float:
    """Trapezoidal integral of total power over [start, end] (the edges are samples: see mark())."""
    points = window(readings, start, end)
    return sum((b.t_s - a.t_s) * (a.power_w + b.power_w) / 2 for a, b in itertools.pairwise(points))


def counter_delta(readings: Sequence[Reading], start: float, end: float) -> float | None:
    points = window(readings, start, end)
    if len(points) < 2 or points[0].energy_j is None or points[-1].energy_j is None:
        return None
    return float(points[-1].energy_j - points[0].energy_j)


def energy_info(readings: Sequence[Reading], start: float, end: float, baseline_w: float) -> EnergyInfo:
    """The window's energy: the counter where there is one, else integrated power."""
    integrated = integrate(readings, start, end)
    counter = counter_delta(readings, start, end)
    total = counter if counter is not None else integrated
    disagreement = abs(counter - integrated) / counter if counter else None
    return EnergyInfo(
        method="counter" if counter is not None else "integration",
        total_j=total,
        counter_j=counter,
        integrated_j=integrated,
        adjusted_j=total - baseline_w * (end - start),
        disagreement=disagreement,
    )


@dataclass(frozen=True)
class WindowStats:
    avg_power_w: float
    peak_power_w: float
    n_samples: int


def window_stats(readings: Sequence[Reading], start: float, end: float, energy_j: float) -> WindowStats:
    points = window(readings, start, end)
    duration = end - start
    return WindowStats(
        avg_power_w=energy_j / duration if duration > 0 else math.nan,  # undefined, not 0 W
        peak_power_w=max((r.power_w for r in points), default=0.0),
        n_samples=len(points),
    )


def warnings_for(
    readings: Sequence[Reading], start: float, end: float, info: EnergyInfo, sample_period_s: float
) -> list[RunWarning]:
    """What a researcher must know before citing this run's number."""
    out: list[RunWarning] = []
    points = window(readings, start, end)
    duration = end - start
    if duration < MIN_SAMPLES_IN_WINDOW * sample_period_s:
        out.append(
            RunWarning(
                kind="short_window",
                message=f"measured window ({duration:.3f} s) is shorter than {MIN_SAMPLES_IN_WINDOW} "
                f"sampling periods ({sample_period_s:.3f} s): raise n_requests or sample_hz",
            )
        )
    if info.disagreement is not None and info.disagreement > DISAGREEMENT_WARN:
        out.append(
            RunWarning(
                kind="counter_disagreement",
                message=f"energy counter and integrated power disagree by {info.disagreement:.1%} "
                f"(counter {info.counter_j:.2f} J, integrated {info.integrated_j:.2f} J)",
            )
        )
    seen = 0
    for reading in points:
        for device in reading.devices:
            seen |= device.throttle_reasons or 0
    reasons = [name for bit, name in THROTTLE_BITS.items() if seen & bit]
    if reasons:
        out.append(
            RunWarning(
                kind="throttled", message="GPU throttled during the measured window: " + ", ".join(reasons)
            )
        )
    temperatures = [
        statistics.fmean(t)
        for t in ([d.temperature_c for d in r.devices if d.temperature_c is not None] for r in points)
        if t
    ]
    if len(temperatures) >= 2 and abs(temperatures[-1] - temperatures[0]) > TEMPERATURE_DRIFT_WARN_C:
        out.append(
            RunWarning(
                kind="temperature_drift",
                message=f"GPU temperature drifted {temperatures[-1] - temperatures[0]:+.1f} °C during "
                "the window: consider a longer warmup or gaps between runs",
            )
        )
    if info.adjusted_j < 0:
        out.append(
            RunWarning(
                kind="negative_energy",
                message="adjusted energy is negative: the idle baseline is above the measured power "
                "(stale cached baseline, or another process on the GPU during the baseline)",
            )
        )
    return out


def sampling_warnings(
    readings: Sequence[Reading], start: float, end: float, sample_hz: float
) -> list[RunWarning]:
    """The sampler fell behind (a slow driver, a starved CPU): the trace is coarser than asked."""
    duration = end - start
    # the window's two edge marks are extra samples, not the sampler's
    sampled = max(len(window(readings, start, end)) - 2, 0)
    expected = duration * sample_hz
    if expected >= MIN_SAMPLES_IN_WINDOW and sampled < ACHIEVED_RATE_WARN * expected:
        return [
            RunWarning(
                kind="sampler_rate",
                message=f"the sampler reached {sampled / duration:.1f} Hz of the {sample_hz:g} Hz asked "
                "(slow power reads or a busy CPU): the power trace is coarser than configured",
            )
        ]
    return []

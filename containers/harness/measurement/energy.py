"""From samples to joules: the window's estimate (see estimator.py), baseline adjustment, warnings."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from camp_contract.models import EnergyInfo, RunWarning
from harness.measurement.estimator import (
    WindowEstimate,
    counter_delta,
    estimate_window,
    integrate,
    window,
)
from harness.measurement.power import Reading

__all__ = ["counter_delta", "energy_info", "integrate", "warnings_for", "window", "window_stats"]

DISAGREEMENT_WARN = 0.02  # counter vs integration, beyond what the counter's steps explain
MIN_SAMPLES_IN_WINDOW = 10
# Fewer counter steps than this in the window: the plain counter may be off by up to 1/N = 5 %,
# and the refined estimate rests on sampled power for about as much of it (docs/measurement.md).
MIN_COUNTER_STEPS = 20
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


def energy_info(readings: Sequence[Reading], start: float, end: float, baseline_w: float) -> EnergyInfo:
    """The window's energy from the estimator the trace supports best; ``readings`` is the whole
    run's trace (the counter's step is estimated over all of it)."""
    estimate = estimate_window(readings, start, end)
    integrated = integrate(readings, start, end)
    total = estimate.total_j
    from_counter = estimate.method != "integration"
    return EnergyInfo(
        method=estimate.method,
        total_j=total,
        counter_j=counter_delta(readings, start, end),
        integrated_j=integrated,
        adjusted_j=total - baseline_w * (end - start),
        disagreement=abs(total - integrated) / total if from_counter and total else None,
        method_reason=estimate.reason,
        counter_step_s=estimate.step.step_s,
        counter_step_resolved=estimate.step.resolved,
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
    estimate = estimate_window(readings, start, end)
    out += _counter_step_warnings(estimate, info, duration)
    allowed = DISAGREEMENT_WARN + estimate.expected_disagreement
    if info.disagreement is not None and info.disagreement > allowed:
        explained = (
            f" (the counter's steps explain up to {estimate.expected_disagreement:.1%})"
            if estimate.expected_disagreement >= 0.001
            else ""
        )
        out.append(
            RunWarning(
                kind="counter_disagreement",
                message=f"energy counter and integrated power disagree by {info.disagreement:.1%}"
                f"{explained} ({info.method} {info.total_j:.2f} J, integrated "
                f"{info.integrated_j:.2f} J): the load changed faster than the power sampling sees",
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


def _counter_step_warnings(estimate: WindowEstimate, info: EnergyInfo, duration: float) -> list[RunWarning]:
    """The window against the counter's update step (an upper bound when the sampler was too
    slow to resolve it: the window then spans at least that many steps)."""
    step = estimate.step
    if info.counter_j is None or duration <= 0:
        return []
    if step.step_s is None:
        return [
            RunWarning(
                kind="few_counter_steps",
                message=f"{estimate.reason}; integrated power was used: lengthen the window "
                "(more n_requests) so the counter can carry the figure",
            )
        ]
    n_steps = duration / step.step_s
    if n_steps >= MIN_COUNTER_STEPS:
        return []
    off = f"the plain counter delta is off by up to {min(1 / n_steps, 1):.0%} (one step at each edge)"
    if estimate.method == "counter_refined":
        detail = f"{off}; the refined figure rests on sampled power for up to {estimate.sampled_share:.0%}"
    elif estimate.method == "counter":
        detail = f"{off}, and the samples are too sparse to refine it: raise sample_hz"
    else:
        detail = "the counter's updates are too far apart to use: the figure is integrated power"
    spans = f"{n_steps:.1f}" if step.resolved else f"at least {n_steps:.1f}"
    return [
        RunWarning(
            kind="few_counter_steps",
            message=f"measured window ({duration:.3f} s) spans {spans} energy-counter steps "
            f"({step.step_s * 1000:.0f} ms{'' if step.resolved else ' or less'}), fewer than "
            f"{MIN_COUNTER_STEPS}: {detail}; raise n_requests for a longer window",
        )
    ]


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

"""Which estimator gives a window's joules, and why.

NVML's energy counter advances in steps (about every 100 ms), so a plain counter delta between
the window's edge samples is the energy between the counter's last updates before each edge:
off by up to one step of energy at each edge (a third of a 0.3 s window). Sampled power has the
opposite fault: exact on a steady load, blind to what happens between (or, on A100/H100, within)
its readings. The estimators, from the trace of the whole run:

- ``counter_refined``: the counter's energy between the updates nearest each edge (whose
  instants the samples locate to within one sample gap), plus sampled power over the short
  slivers between those updates and the edges. Only the slivers — at most about half a step at
  each edge — rest on sampled power; the bulk is the counter's.
- ``counter``: the plain delta, where the sampler is too slow to resolve the counter's step
  (fewer than ``MIN_SAMPLES_PER_STEP`` samples per step, see counter_step.py): placing the
  updates no finer than the step itself, refining would add as much uncertainty as it removes.
- ``integration``: trapezoid-integrated sampled power, where a GPU has no counter, where the
  counter barely moved in the whole trace, or where the window is too short for any update to
  sit closer to its edges than the window is long.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness.measurement.counter_step import (
    MIN_CHANGES,
    MIN_SAMPLES_PER_STEP,
    CounterStep,
    CounterUpdate,
    counter_updates,
    estimate_counter_step,
)
from harness.measurement.power import Reading

Method = Literal["counter", "counter_refined", "integration"]


@dataclass(frozen=True)
class WindowEstimate:
    """A window's energy, the estimator that gave it and why; ``expected_disagreement`` is how
    far the counter and integrated power may differ from the counter's steps alone (relative),
    ``sampled_share`` the worst-case share of the window's duration whose energy rests on
    sampled power rather than on the counter; ``per_device_j`` each device's share of
    ``total_j`` by the same method (they sum to it)."""

    method: Method
    total_j: float
    reason: str
    step: CounterStep
    sampled_share: float
    expected_disagreement: float
    per_device_j: tuple[float, ...] = ()


def window(readings: Sequence[Reading], start: float, end: float) -> list[Reading]:
    return [r for r in readings if start <= r.t_s <= end]


def integrate(readings: Sequence[Reading], start: float, end: float) -> float:
    """Trapezoidal integral of total power over [start, end] (the edges are samples: see mark())."""
    points = window(readings, start, end)
    return sum((b.t_s - a.t_s) * (a.power_w + b.power_w) / 2 for a, b in itertools.pairwise(points))


def integrate_devices(readings: Sequence[Reading], start: float, end: float) -> tuple[float, ...]:
    """``integrate`` per device (they sum to it)."""
    points = window(readings, start, end)
    n_devices = min((len(r.devices) for r in points), default=0)
    return tuple(
        sum(
            (b.t_s - a.t_s) * (a.devices[d].power_w + b.devices[d].power_w) / 2
            for a, b in itertools.pairwise(points)
        )
        for d in range(n_devices)
    )


def counter_deltas(readings: Sequence[Reading], start: float, end: float) -> tuple[float, ...]:
    """``counter_delta`` per device (call it only where that is not None)."""
    points = window(readings, start, end)
    first, last = points[0].devices, points[-1].devices
    return tuple(float((b.energy_j or 0.0) - (a.energy_j or 0.0)) for a, b in zip(first, last, strict=True))


def counter_delta(readings: Sequence[Reading], start: float, end: float) -> float | None:
    points = window(readings, start, end)
    if len(points) < 2 or points[0].energy_j is None or points[-1].energy_j is None:
        return None
    return float(points[-1].energy_j - points[0].energy_j)


def median_sample_gap(readings: Sequence[Reading]) -> float | None:
    gaps = [b.t_s - a.t_s for a, b in itertools.pairwise(readings) if b.t_s > a.t_s]
    return statistics.median(gaps) if gaps else None


@dataclass(frozen=True)
class _PowerTrace:
    """One device's sampled power, integrable between any two instants (linear in between)."""

    times: list[float]
    watts: list[float]

    def at(self, t: float) -> float:
        i = bisect.bisect_left(self.times, t)
        if i == 0:
            return self.watts[0]
        if i == len(self.times):
            return self.watts[-1]
        t0, t1 = self.times[i - 1], self.times[i]
        w0, w1 = self.watts[i - 1], self.watts[i]
        return w0 + (w1 - w0) * (t - t0) / (t1 - t0) if t1 > t0 else w1

    def integral(self, a: float, b: float) -> float:
        """Joules from ``a`` to ``b`` (negative when ``b`` < ``a``)."""
        if b < a:
            return -self.integral(b, a)
        inner = [(t, w) for t, w in zip(self.times, self.watts, strict=True) if a < t < b]
        points = [(a, self.at(a)), *inner, (b, self.at(b))]
        return sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in itertools.pairwise(points))


def _device_trace(readings: Sequence[Reading], device: int) -> _PowerTrace:
    points = [(r.t_s, r.devices[device].power_w) for r in readings if device < len(r.devices)]
    return _PowerTrace([t for t, _ in points], [w for _, w in points])


@dataclass(frozen=True)
class _Refined:
    energy_j: float
    sampled_s: float  # worst-case time whose energy rests on sampled power (both edges)
    locating: float  # half-widths of the used updates' brackets, relative to the span between them
    integrated_only: bool  # no update near enough: the device's window is integrated power


def _nearest_updates(updates: Sequence[CounterUpdate], edge: float) -> list[CounterUpdate]:
    """The last update seen at or before ``edge`` and the first seen after it (edges are samples,
    so every update's bracket lies wholly on one side)."""
    before = [u for u in updates if u.after_s <= edge][-1:]
    after = [u for u in updates if u.before_s >= edge][:1]
    return before + after


def _worst_sliver(update: CounterUpdate, edge: float) -> float:
    """How far from ``edge`` the update may be: the sliver that sampled power must cover."""
    return abs(update.at_s - edge) + update.width_s / 2


def _refine_device(readings: Sequence[Reading], device: int, start: float, end: float) -> _Refined:
    """E(start, end) = [C(u_end) − C(u_start)] + k·(∫ P from start to u_start − ∫ P from end to u_end),
    with u_start, u_end the counter updates that leave the least time to sampled power, and
    k = [C(u_end) − C(u_start)] / ∫ P from u_start to u_end: the sampled power calibrated against
    the counter over the span they share, so a sensor that misreads the load (part-time sensing,
    aliasing, a lagging average) misreads the slivers no more than it is known to. k is left at 1
    where it is within what the updates' placing alone explains (it would only amplify that)."""
    power = _device_trace(readings, device)
    updates = counter_updates(readings, device)
    best: tuple[float, CounterUpdate, CounterUpdate] | None = None
    for first in _nearest_updates(updates, start):
        for last in _nearest_updates(updates, end):
            if first.after_s > last.after_s or first is last:  # one update for both: integration
                continue
            cost = _worst_sliver(first, start) + _worst_sliver(last, end)
            if best is None or cost < best[0]:
                best = (cost, first, last)
    if best is None or best[0] >= end - start:
        return _Refined(power.integral(start, end), end - start, 0.0, integrated_only=True)
    cost, first, last = best
    counted = last.value_j - first.value_j
    sampled = power.integral(first.at_s, last.at_s)
    locating = (first.width_s + last.width_s) / 2 / (last.at_s - first.at_s)
    scale = counted / sampled if counted > 0 and sampled > 0 else 1.0
    if abs(scale - 1) <= locating:  # no bias beyond what placing the updates explains: leave it
        scale = 1.0
    slivers = power.integral(start, first.at_s) - power.integral(end, last.at_s)
    return _Refined(counted + scale * slivers, cost, locating, integrated_only=False)


def estimate_window(readings: Sequence[Reading], start: float, end: float) -> WindowEstimate:
    """The window's energy from the estimator its trace supports best (see the module doc).
    ``readings`` is the whole run's trace: the counter's step is estimated over all of it."""
    duration = end - start
    integrated = integrate(readings, start, end)
    counter = counter_delta(readings, start, end)
    step = estimate_counter_step(readings)
    per_device = integrate_devices(readings, start, end)
    if counter is None:
        return WindowEstimate(
            "integration", integrated, "a GPU of this run has no energy counter", step, 1.0, 0.0, per_device
        )
    if duration <= 0:
        return WindowEstimate(
            "integration", integrated, "the window has no duration", step, 1.0, 0.0, per_device
        )
    if step.step_s is None:
        return WindowEstimate(
            "integration",
            integrated,
            f"the energy counter changed fewer than {MIN_CHANGES} times in the whole trace: "
            "its step is unknown and longer than the window",
            step,
            1.0,
            0.0,
            per_device,
        )
    gap = median_sample_gap(readings) or step.step_s
    quantisation = min(step.step_s / duration, 1.0)
    if not step.resolved:
        return WindowEstimate(
            "counter",
            counter,
            f"samples {gap * 1000:.0f} ms apart, fewer than {MIN_SAMPLES_PER_STEP:g} per counter step "
            f"(at most {step.step_s * 1000:.0f} ms), cannot place the counter's updates finer than the "
            "step itself: the counter's delta as is",
            step,
            0.0,
            quantisation,
            counter_deltas(readings, start, end),
        )
    n_devices = min(len(r.devices) for r in readings)
    refined = [_refine_device(readings, d, start, end) for d in range(n_devices)]
    total = sum(r.energy_j for r in refined)
    refined_j = tuple(r.energy_j for r in refined)
    share = min(max(r.sampled_s for r in refined) / duration, 1.0)
    locating = max(r.locating for r in refined)
    if all(r.integrated_only for r in refined):
        return WindowEstimate(
            "integration",
            total,
            f"the window ({duration:.3f} s) is too short against the counter's step "
            f"({step.step_s * 1000:.0f} ms) for any update to sit closer to its edges: integrated power",
            step,
            1.0,
            0.0,
            refined_j,
        )
    return WindowEstimate(
        "counter_refined",
        total,
        f"the counter's step ({step.step_s * 1000:.0f} ms) is resolved by samples {gap * 1000:.0f} ms "
        f"apart: the counter between the updates nearest the edges, sampled power over the edge "
        f"slivers (at most {share:.0%} of the window)",
        step,
        share,
        locating,
        refined_j,
    )

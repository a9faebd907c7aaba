"""How often the energy counter actually advances, read from the trace itself.

NVML's total-energy counter is refreshed by the driver in steps (about every 100 ms on recent
GPUs, other periods elsewhere), so a counter delta over a window is uncertain by up to one step at
each edge. The step is not documented per GPU, so it is estimated from the instants the counter's
value changes between consecutive samples: the median spacing of those instants.

When (nearly) every pair of consecutive samples sees a change, the counter updates at least as
often as the sampler reads it; the step is then only bounded (≤ the median sample period, even
from a handful of samples), and the estimate says so (``resolved`` is False). Nor is a step
resolved that spans fewer than ``MIN_SAMPLES_PER_STEP`` sample periods: a sampler beating
against the counter at about its rate sees some pairs with no update and some with two, and the
spacing of the changes it sees (an upper bound of the step) may be twice the real one — while a
quarter of them or more are a single period apart.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.measurement.power import Reading

MIN_CHANGES = 3  # fewer change instants than this give no estimate
UNRESOLVED_SHARE = 0.9  # a change between this share of sample pairs: the step is below the sample period
MIN_SAMPLES_PER_STEP = 2.0  # fewer: the samples cannot place an update finer than the step itself


@dataclass(frozen=True)
class CounterStep:
    """The counter's update step: ``step_s`` (None: no counter, or too few changes to tell),
    how many change instants it rests on, and whether it was resolved by the sampling."""

    step_s: float | None
    n_changes: int
    resolved: bool


@dataclass(frozen=True)
class CounterUpdate:
    """One update of a device's counter, seen between two samples: it happened after
    ``before_s`` (the last sample still showing the old value) and at or before ``after_s``
    (the first showing ``value_j``)."""

    before_s: float
    after_s: float
    value_j: float

    @property
    def at_s(self) -> float:
        """Best estimate of the update instant: the middle of the interval that brackets it."""
        return (self.before_s + self.after_s) / 2

    @property
    def width_s(self) -> float:
        return self.after_s - self.before_s


def counter_updates(readings: Sequence[Reading], device: int) -> list[CounterUpdate]:
    """Every update of device ``device``'s counter that the samples show, in time order."""
    updates: list[CounterUpdate] = []
    previous: tuple[float, float] | None = None  # (time, value) of the last sample with a value
    for reading in readings:
        if device >= len(reading.devices):
            continue
        value = reading.devices[device].energy_j
        if value is None:
            continue
        if previous is not None and value != previous[1]:
            updates.append(CounterUpdate(before_s=previous[0], after_s=reading.t_s, value_j=value))
        previous = (reading.t_s, value)
    return updates


def change_instants(readings: Sequence[Reading], device: int) -> list[float]:
    """The sample times at which device ``device``'s counter shows a new value."""
    return [update.after_s for update in counter_updates(readings, device)]


def estimate_counter_step(readings: Sequence[Reading]) -> CounterStep:
    """The update step of the counter, the largest over the devices (the coarsest one bounds the
    error of the summed delta)."""
    n_devices = max((len(r.devices) for r in readings), default=0)
    estimates: list[CounterStep] = []
    for device in range(n_devices):
        instants = change_instants(readings, device)
        gaps = [
            b.t_s - a.t_s
            for a, b in itertools.pairwise(readings)
            if device < len(a.devices)
            and device < len(b.devices)
            and a.devices[device].energy_j is not None
            and b.devices[device].energy_j is not None
        ]
        every_pair = len(instants) >= UNRESOLVED_SHARE * len(gaps)
        # A counter that moved between every pair of samples is bounded by their spacing, however
        # few the samples; one that moved between only some needs MIN_CHANGES to time its step.
        if not instants or (not every_pair and len(instants) < MIN_CHANGES):
            continue
        sample_period = statistics.median(gaps)
        if every_pair:
            estimates.append(CounterStep(sample_period, len(instants), resolved=False))
            continue
        spacing = [b - a for a, b in itertools.pairwise(instants)]
        # the lower quartile, not the median: a beat shows as many changes one period apart
        shortest = statistics.quantiles(spacing, n=4, method="inclusive")[0]
        resolved = shortest >= MIN_SAMPLES_PER_STEP * sample_period
        step = statistics.median(spacing)
        estimates.append(CounterStep(step_s=step, n_changes=len(instants), resolved=resolved))
    if not estimates:
        return CounterStep(step_s=None, n_changes=0, resolved=False)
    coarsest = max(estimates, key=lambda e: e.step_s or 0.0)
    return CounterStep(
        step_s=coarsest.step_s,
        n_changes=min(e.n_changes for e in estimates),
        resolved=all(e.resolved for e in estimates),
    )

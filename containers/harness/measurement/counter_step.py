"""How often the energy counter actually advances, read from the trace itself.

NVML's total-energy counter is refreshed by the driver in steps (about every 100 ms on recent
GPUs, other periods elsewhere), so a counter delta over a window is uncertain by up to one step at
each edge. The step is not documented per GPU, so it is estimated from the instants the counter's
value changes between consecutive samples: the median spacing of those instants.

When (nearly) every pair of consecutive samples sees a change, the counter updates at least as
often as the sampler reads it; the step is then only bounded (≤ the sample period), and the
estimate says so (``resolved`` is False).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.measurement.power import Reading

MIN_CHANGES = 3  # fewer change instants than this give no estimate
UNRESOLVED_SHARE = 0.9  # a change between this share of sample pairs: the step is below the sample period


@dataclass(frozen=True)
class CounterStep:
    """The counter's update step: ``step_s`` (None: no counter, or too few changes to tell),
    how many change instants it rests on, and whether it was resolved by the sampling."""

    step_s: float | None
    n_changes: int
    resolved: bool


def change_instants(readings: Sequence[Reading], device: int) -> list[float]:
    """The sample times at which device ``device``'s counter shows a new value."""
    instants: list[float] = []
    previous: float | None = None
    for reading in readings:
        if device >= len(reading.devices):
            continue
        value = reading.devices[device].energy_j
        if value is None:
            continue
        if previous is not None and value != previous:
            instants.append(reading.t_s)
        previous = value
    return instants


def estimate_counter_step(readings: Sequence[Reading]) -> CounterStep:
    """The update step of the counter, the largest over the devices (the coarsest one bounds the
    error of the summed delta)."""
    n_devices = max((len(r.devices) for r in readings), default=0)
    estimates: list[CounterStep] = []
    for device in range(n_devices):
        instants = change_instants(readings, device)
        pairs = sum(
            1
            for a, b in itertools.pairwise(readings)
            if device < len(a.devices)
            and device < len(b.devices)
            and a.devices[device].energy_j is not None
            and b.devices[device].energy_j is not None
        )
        if len(instants) < MIN_CHANGES or pairs == 0:
            continue
        spacing = [b - a for a, b in itertools.pairwise(instants)]
        estimates.append(
            CounterStep(
                step_s=statistics.median(spacing),
                n_changes=len(instants),
                resolved=len(instants) < UNRESOLVED_SHARE * pairs,
            )
        )
    if not estimates:
        return CounterStep(step_s=None, n_changes=0, resolved=False)
    coarsest = max(estimates, key=lambda e: e.step_s or 0.0)
    return CounterStep(
        step_s=coarsest.step_s,
        n_changes=min(e.n_changes for e in estimates),
        resolved=all(e.resolved for e in estimates),
    )

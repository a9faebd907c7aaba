"""How densely the measured window was sampled (``RunResult.sampling``): what was asked, what
the sampler achieved, and the coarsest step an integral over the window had to take."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from camp_contract.models import PowerReading, SamplingInfo
from harness.measurement.energy import window
from harness.measurement.power import Reading

EDGE_MARKS = 2  # the window's start and end are readings of their own (Sampler.mark), not ticks


def sampling_info(
    readings: Sequence[Reading],
    start: float,
    end: float,
    asked_hz: float,
    power_readings: Mapping[str, PowerReading],
) -> SamplingInfo:
    """The achieved rate counts the sampler's own ticks, as the ``sampler_rate`` warning does."""
    points = window(readings, start, end)
    duration = end - start
    ticks = max(len(points) - EDGE_MARKS, 0)
    return SamplingInfo(
        asked_hz=asked_hz,
        achieved_hz=ticks / duration if duration > 0 else 0.0,
        n_samples_window=len(points),
        max_interval_s=max((b.t_s - a.t_s for a, b in itertools.pairwise(points)), default=0.0),
        power_readings=dict(power_readings),
    )

"""A measured window on fake GPUs in simulated time, as the harness takes it: a sampler reading the
real NVML source (against the fake pynvml) on its deadlines for a while before the window (the
run's load and warmup), two edge marks, and the sampler's last read at stop. Seconds of GPU time
take no wall time, and the window's exact joules are known.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

from harness.measurement import nvml
from harness.measurement.power import Reading
from tests.harness.fake_nvml import FakeGpu, FakeNvml, SimulatedClock


@dataclass(frozen=True)
class SimulatedWindow:
    readings: list[Reading]
    start: float
    end: float
    truth_j: float  # the exact energy of the window, summed over the GPUs


@contextlib.contextmanager
def installed(fake: FakeNvml, clock: SimulatedClock) -> Iterator[None]:
    """The fake in place of pynvml, and the clock in place of the readings' timestamps."""
    saved = nvml.pynvml, nvml.time
    nvml.pynvml, nvml.time = fake, clock  # type: ignore[assignment]
    try:
        yield
    finally:
        nvml.pynvml, nvml.time = saved


def _exact_joules(fake: FakeNvml, gpu: FakeGpu, start: float, end: float) -> float:
    if gpu.trace is None:
        return gpu.power_w * (end - start)
    if gpu.trace_energy is None:
        raise ValueError(f"{gpu.uuid}: give trace_energy with trace, so the truth is exact")
    return gpu.trace_energy(end - fake.started) - gpu.trace_energy(start - fake.started)


def simulate_window(
    gpus: list[FakeGpu], hz: float, duration_s: float, lead_s: float = 1.0, seed: int = 0
) -> SimulatedWindow:
    """Sample ``gpus`` at ``hz`` (±2 % jitter on each deadline) for ``lead_s`` plus a random part
    of a period, then a window of ``duration_s`` between two marks."""
    rng = random.Random(seed)
    clock = SimulatedClock()
    fake = FakeNvml(gpus, clock=clock)
    period = 1.0 / hz
    with installed(fake, clock):
        source = nvml.NvmlPower({})
        readings = [source.read()]
        start = clock.now + lead_s + rng.uniform(0, period)
        end = start + duration_s
        tick = clock.now
        marks = [start, end]
        while marks:
            tick += period
            due = tick + rng.uniform(-0.02, 0.02) * period
            if marks[0] <= due:
                clock.now = marks.pop(0)
                readings.append(source.read())
            if due < end:
                clock.now = due
                readings.append(source.read())
        clock.advance(0.0005)  # the sampler's read at stop, right after the end mark
        readings.append(source.read())
        source.close()
    truth = sum(_exact_joules(fake, gpu, start, end) for gpu in gpus)
    return SimulatedWindow(sorted(readings, key=lambda r: r.t_s), start, end, truth)

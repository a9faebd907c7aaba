"""Sampler cost and integration error, measured side by side.

1. Cost per sample: one `read()` of the synthetic source and of a fake NVML with 1 and 8 GPUs
   (the fake's calls are Python, so this is the harness's own overhead, not the driver's), and
   the CPU the sampler thread takes at 10 and 100 Hz.
2. Integration error: trapezoid-integrated sampled power against the exact energy of a known
   square-wave trace (40 W ↔ 160 W), for several sampling rates and trace periods. This is why
   the energy counter, where a GPU has one, is the figure camp reports.

Run: .venv/bin/python benchmarks/harness_sampler.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(Path(__file__).resolve().parents[1] / "containers"),
]

from harness.measurement import nvml  # noqa: E402
from harness.measurement.energy import integrate  # noqa: E402
from harness.measurement.power import DeviceReading, PowerSource, Reading  # noqa: E402
from harness.measurement.sampler import Sampler  # noqa: E402
from harness.measurement.synthetic import SyntheticPower  # noqa: E402
from tests.harness.fake_nvml import FakeGpu, FakeNvml  # noqa: E402

IDLE_W, BUSY_W = 40.0, 160.0


def per_read_us(source: object, n: int = 3000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        source.read()  # type: ignore[attr-defined]
    return (time.perf_counter() - started) / n * 1e6


def sampler_cpu_share(source: object, hz: float, seconds: float = 2.0) -> tuple[float, float]:
    """(achieved rate in Hz, CPU seconds per wall second) of a sampler running alone."""
    cpu = time.process_time()
    with Sampler(source, hz) as sampler:  # type: ignore[arg-type]
        time.sleep(seconds)
    used = time.process_time() - cpu
    return (len(sampler.readings) - 2) / seconds, used / seconds


def square_wave(t: float, period: float) -> float:
    return BUSY_W if (t % period) < period / 2 else IDLE_W


def exact_energy(duration: float, period: float) -> float:
    full, rest = divmod(duration, period)
    busy = full * period / 2 + min(rest, period / 2)
    return busy * BUSY_W + (duration - busy) * IDLE_W


def integration_error(hz: float, period: float, duration: float = 10.0, phase: float = 0.013) -> float:
    times = [phase + k / hz for k in range(int((duration - phase) * hz) + 1)]
    readings = [Reading(t, (DeviceReading(power_w=square_wave(t, period), energy_j=None),)) for t in times]
    measured = integrate(readings, times[0], times[-1])
    truth = exact_energy(times[-1], period) - exact_energy(times[0], period)
    return (measured - truth) / truth


def main() -> None:
    print("1. cost per sample")
    fakes = {n: FakeNvml([FakeGpu(uuid=f"GPU-{i:04d}") for i in range(n)]) for n in (1, 8)}
    rows: list[tuple[str, PowerSource]] = [("synthetic", SyntheticPower())]
    for n, fake in fakes.items():
        nvml.pynvml = fake  # type: ignore[assignment,unused-ignore]
        rows.append((f"fake NVML, {n} GPU{'s' if n > 1 else ''}", nvml.NvmlPower({})))
    print(f"   {'source':<20} {'µs/read':>8} {'10 Hz: rate, CPU':>18} {'100 Hz: rate, CPU':>19}")
    for name, source in rows:
        cost = per_read_us(source)
        rate10, cpu10 = sampler_cpu_share(source, 10)
        rate100, cpu100 = sampler_cpu_share(source, 100)
        print(
            f"   {name:<20} {cost:>8.1f} {rate10:>9.1f} Hz {cpu10:>5.2%} {rate100:>10.1f} Hz {cpu100:>5.2%}"
        )

    print("\n2. integration error of sampled power vs the exact energy of a 40↔160 W square wave (10 s)")
    periods = (0.05, 0.2, 1.0, 5.0)
    print("   " + f"{'rate':>8}" + "".join(f"{f'period {p:g} s':>16}" for p in periods))
    for hz in (10, 50, 100):
        cells = "".join(f"{integration_error(hz, p):>+16.2%}" for p in periods)
        print(f"   {hz:>5} Hz{cells}")
    print("\n   (a counter delta has no such error: it is what camp reports where the GPU has one)")


if __name__ == "__main__":
    main()

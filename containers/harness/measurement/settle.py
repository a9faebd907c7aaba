"""The settle gate: before a run measures anything, wait until its GPUs are back at idle.

Leakage power rises with temperature: a run that starts while its GPU is still warm from the run
before draws more for the same work, and an experiment that always follows a heavy one would
always be measured warm. So before the baseline and the load, the gate takes a short idle read
(``probe_s``) every ``poll_s`` until the GPUs are at their idle state, or ``timeout_s`` passes
(then the run goes on with a ``not_settled`` warning). What "idle state" means depends on what
is known:

- a cached baseline of these GPUs (``reference: baseline``): every GPU within
  ``temperature_tolerance_c`` of the temperature it had then, and idle power within
  ``power_tolerance`` of that baseline's. Power is left out for a ``cuda_context`` baseline (the
  gate reads without a context, so the two powers are not comparable), temperature where the
  source has none (the synthetic source: power alone, and the result says so);
- no cached baseline but temperatures (``reference: trend``): until every GPU's temperature
  fell by less than ``STEADY_DROP_C`` over the last ``steady_s``, i.e. it stopped cooling;
- neither (``reference: none``): nothing to judge by, so the gate does not wait.

Both checks are one-sided: a GPU cooler or more frugal than its reference is settled.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from camp_contract.models import BaselineInfo, RunWarning, SettleInfo, SettleSettings
from harness.measurement.power import PowerSource, Reading

STEADY_DROP_C = 1.0  # NVML reports whole degrees: a smaller fall cannot be seen

Reference = Literal["baseline", "trend", "none"]
JudgedOn = Literal["temperature_and_power", "temperature", "power", "nothing"]


@dataclass(frozen=True)
class IdleRead:
    """A short idle read: the median total power and each GPU's median temperature."""

    power_w: float
    temperature_c: dict[str, float]  # per GPU UUID; a GPU that reported no temperature is absent
    t_s: float  # when the read ended, on the source's clock


def device_temperatures(readings: Sequence[Reading], uuids: Sequence[str]) -> dict[str, float]:
    """Each GPU's median temperature over ``readings`` (devices are in ``uuids`` order)."""
    out = {}
    for index, uuid in enumerate(uuids):
        values = [r.devices[index].temperature_c for r in readings if len(r.devices) > index]
        known = [v for v in values if v is not None]
        if known:
            out[uuid] = float(statistics.median(known))
    return out


def temperatures_at(readings: Sequence[Reading], t_s: float, uuids: Sequence[str]) -> dict[str, float]:
    """Each GPU's last reported temperature at or before ``t_s`` (the window's start)."""
    out: dict[str, float] = {}
    for reading in sorted((r for r in readings if r.t_s <= t_s), key=lambda r: r.t_s):
        for uuid, device in zip(uuids, reading.devices, strict=False):
            if device.temperature_c is not None:
                out[uuid] = float(device.temperature_c)
    return out


def read_for(
    source: PowerSource,
    duration_s: float,
    hz: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Reading]:
    """Read the source for ``duration_s`` at ``hz`` (at least once)."""
    readings = []
    start = clock()
    while True:
        readings.append(source.read())
        if clock() - start >= duration_s:
            return readings
        sleep(1.0 / hz)


def idle_read(
    source: PowerSource,
    duration_s: float,
    hz: float,
    trace: list[Reading] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> IdleRead:
    """A short idle read (its readings are appended to ``trace``)."""
    readings = read_for(source, duration_s, hz, clock, sleep)
    if trace is not None:
        trace.extend(readings)
    return IdleRead(
        power_w=statistics.median(r.power_w for r in readings),
        temperature_c=device_temperatures(readings, [d.uuid for d in source.devices()]),
        t_s=readings[-1].t_s,
    )


def _judged_on(read: IdleRead, reference: BaselineInfo) -> JudgedOn:
    temperature = any(u in read.temperature_c for u in reference.temperature_c)
    power = reference.method != "cuda_context" and reference.power_w > 0
    if temperature:
        return "temperature_and_power" if power else "temperature"
    return "power" if power else "nothing"


def _near_reference(
    read: IdleRead, reference: BaselineInfo, judged_on: JudgedOn, settings: SettleSettings
) -> bool:
    if judged_on in ("temperature", "temperature_and_power"):
        for uuid, then in reference.temperature_c.items():
            if read.temperature_c.get(uuid, then) > then + settings.temperature_tolerance_c:
                return False
    if judged_on in ("power", "temperature_and_power"):
        return read.power_w <= reference.power_w * (1 + settings.power_tolerance)
    return True


def _stopped_cooling(reads: Sequence[IdleRead], steady_s: float) -> bool:
    """The last read against the latest one at least ``steady_s`` before it."""
    last = reads[-1]
    earlier = [r for r in reads[:-1] if r.t_s <= last.t_s - steady_s]
    if not earlier:
        return False
    then = earlier[-1]
    return all(
        then.temperature_c[uuid] - now < STEADY_DROP_C
        for uuid, now in last.temperature_c.items()
        if uuid in then.temperature_c
    )


def settle_gate(
    source: PowerSource,
    settings: SettleSettings,
    reference: BaselineInfo | None,
    hz: float,
    trace: list[Reading] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[SettleInfo, IdleRead | None]:
    """Wait until the GPUs are back at idle (see the module doc); returns what was found and the
    last idle read (the baseline re-checks a cached value against it)."""
    if not settings.enabled:
        info = SettleInfo(
            reference="disabled",
            judged_on="nothing",
            settled=True,
            waited_s=0.0,
            temperature_c={},
            power_w=None,
            reference_temperature_c={},
            reference_power_w=None,
        )
        return info, None
    start = clock()
    reads: list[IdleRead] = []
    kind: Reference
    judged_on: JudgedOn
    while True:
        reads.append(idle_read(source, settings.probe_s, hz, trace, clock, sleep))
        read = reads[-1]
        if reference is not None:
            kind, judged_on = "baseline", _judged_on(read, reference)
            settled = _near_reference(read, reference, judged_on, settings)
        elif read.temperature_c:
            kind, judged_on = "trend", "temperature"
            settled = _stopped_cooling(reads, settings.steady_s)
        else:
            kind, judged_on, settled = "none", "nothing", True
        if settled or clock() - start + settings.poll_s > settings.timeout_s:
            break
        sleep(settings.poll_s)
    info = SettleInfo(
        reference=kind,
        judged_on=judged_on,
        settled=settled,
        waited_s=clock() - start,
        temperature_c=read.temperature_c,
        power_w=read.power_w,
        reference_temperature_c=dict(reference.temperature_c) if reference is not None else {},
        reference_power_w=reference.power_w if reference is not None else None,
    )
    return info, read


def settle_warnings(info: SettleInfo, settings: SettleSettings) -> list[RunWarning]:
    """A run that started before its GPUs were back at idle was measured warm."""
    if info.settled:
        return []
    found = []
    if info.temperature_c:
        now = ", ".join(f"{t:.0f}" for t in info.temperature_c.values())
        then = ", ".join(f"{t:.0f}" for t in info.reference_temperature_c.values())
        found.append(f"{now} °C" + (f" against {then} °C" if then else ""))
    if info.power_w is not None:
        then_w = f" against {info.reference_power_w:.1f} W" if info.reference_power_w is not None else ""
        found.append(f"idle power {info.power_w:.1f} W{then_w}")
    return [
        RunWarning(
            kind="not_settled",
            message=f"the GPUs were not back at idle after settle.timeout_s ({settings.timeout_s:g} s): "
            f"{', '.join(found)}; the run started warm from the one before — raise settle.timeout_s "
            "or add gaps.between_runs_s",
        )
    ]
